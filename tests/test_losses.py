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


@pytest.mark.parametrize("wrap", [(True, False), (False, True), (True, True)])
def test_total_variation_across_wrapped_edges_matches_numpy(wrap):
    image = np.random.default_rng(7).uniform(0, 255, size=(1, 5, 7, 3)).astype(np.float32)
    scaled = image / 255.0
    # Row i's upper neighbour is row i-1, row 0's the last row when rows wrap.
    vertical = (scaled - np.roll(scaled, 1, axis=1)) if wrap[0] else (scaled[:, 1:] - scaled[:, :-1])
    horizontal = ((scaled - np.roll(scaled, 1, axis=2)) if wrap[1]
                  else (scaled[:, :, 1:] - scaled[:, :, :-1]))
    expected = np.mean(vertical ** 2) + np.mean(horizontal ** 2)
    np.testing.assert_allclose(losses.total_variation_loss(image, wrap).numpy(), expected,
                               rtol=1e-5)
    # A picture that tiles without a seam costs nothing at its edges: a horizontal ramp that
    # is periodic across them has the same loss wrapped as a constant-gradient strip has inside.
    columns = np.tile([0.0, 255.0], 4)[None, None, :, None] * np.ones((1, 4, 1, 3))
    wrapped_loss = losses.total_variation_loss(columns.astype(np.float32), (False, True))
    plain_loss = losses.total_variation_loss(columns.astype(np.float32))
    np.testing.assert_allclose(float(wrapped_loss), float(plain_loss), rtol=1e-6)


@pytest.mark.parametrize("wrap", [(True, False), (False, True), (True, True)])
def test_pooled_laplacian_across_wrapped_edges_matches_numpy(wrap):
    image = np.random.default_rng(8).uniform(0, 255, size=(1, 16, 20, 3)).astype(np.float32)
    pooled = (image[0].astype(np.float64) / 255.0).reshape(4, 4, 5, 4, 3).mean(axis=(1, 3))
    # np.pad's wrap mode is the periodic picture; a 5-point stencil on it, then the valid part.
    padded = np.pad(pooled, ((1, 1), (1, 1), (0, 0)), mode="wrap")
    stencil = (4 * padded[1:-1, 1:-1] - padded[:-2, 1:-1] - padded[2:, 1:-1]
               - padded[1:-1, :-2] - padded[1:-1, 2:])
    rows = slice(None) if wrap[0] else slice(1, -1)
    columns = slice(None) if wrap[1] else slice(1, -1)
    np.testing.assert_allclose(losses.pooled_laplacian(image, 4, wrap).numpy()[0],
                               stencil[rows, columns], rtol=1e-4, atol=1e-6)
