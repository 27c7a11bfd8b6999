"""The losses against NumPy re-implementations of their formulas."""

import numpy as np
import pytest

from tf_style import losses


def test_total_variation_matches_numpy():
    image = np.random.default_rng(3).uniform(0, 255, size=(1, 5, 7, 3)).astype(np.float32)
    scaled = image / 255.0
    expected = (np.mean((scaled[:, 1:] - scaled[:, :-1]) ** 2)
                + np.mean((scaled[:, :, 1:] - scaled[:, :, :-1]) ** 2))
    np.testing.assert_allclose(losses.total_variation_loss(image).numpy(), expected, rtol=1e-5)
    flat = np.full((1, 5, 7, 3), 80.0, dtype=np.float32)
    assert losses.total_variation_loss(flat).numpy() == 0.0


def test_temporal_loss_matches_numpy():
    rng = np.random.default_rng(4)
    image = rng.uniform(0, 255, (1, 6, 7, 3)).astype(np.float32)
    warped = rng.uniform(0, 255, (1, 6, 7, 3)).astype(np.float32)
    weights = (rng.uniform(size=(1, 6, 7, 1)) > 0.5).astype(np.float32)
    expected = np.sum(weights * ((image - warped) / 255.0) ** 2) / image.size
    assert float(losses.temporal_loss(image, warped, weights)) == pytest.approx(expected, rel=1e-5)


def test_pooled_laplacian_matches_numpy():
    image = np.random.default_rng(6).uniform(0, 255, size=(1, 13, 17, 3)).astype(np.float32)
    scaled = image[0].astype(np.float64) / 255.0
    # 4x4 average pooling (the last odd rows and columns dropped), then the 5-point stencil.
    pooled = scaled[:12, :16].reshape(3, 4, 4, 4, 3).mean(axis=(1, 3))
    expected = (4 * pooled[1:-1, 1:-1] - pooled[:-2, 1:-1] - pooled[2:, 1:-1]
                - pooled[1:-1, :-2] - pooled[1:-1, 2:])
    np.testing.assert_allclose(losses.pooled_laplacian(image, 4).numpy()[0], expected,
                               rtol=1e-4, atol=1e-6)
