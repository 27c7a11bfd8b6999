"""The losses against NumPy re-implementations of their formulas."""

import numpy as np
import pytest
import tensorflow as tf

from tf_style import losses


def _numpy_gram(features):
    batch, height, width, channels = features.shape
    flat = features.reshape(batch, height * width, channels)
    return np.einsum("bmi,bmj->bij", flat, flat) / (height * width)


def test_gram_matrix_matches_hand_computed_example():
    # Two positions, two channels: F = [[1, 2], [3, 4]], G = F^T F / 2.
    features = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=np.float32)  # (1, 1, 2, 2)
    expected = np.array([[10.0, 14.0], [14.0, 20.0]]) / 2
    np.testing.assert_allclose(losses.gram_matrix(features).numpy()[0], expected)


def test_gram_matrix_matches_numpy_on_random_features():
    features = np.random.default_rng(0).normal(size=(2, 5, 7, 4)).astype(np.float32)
    np.testing.assert_allclose(
        losses.gram_matrix(tf.constant(features)).numpy(), _numpy_gram(features), rtol=1e-5)


def test_content_loss_is_relative_squared_error():
    rng = np.random.default_rng(1)
    features, target = rng.normal(size=(2, 1, 6, 6, 8)).astype(np.float32)
    expected = np.sum((features - target) ** 2) / np.sum(target ** 2)
    np.testing.assert_allclose(losses.content_loss(features, target).numpy(), expected, rtol=1e-5)
    assert losses.content_loss(target, target).numpy() == 0.0


def test_style_loss_matches_numpy_and_ignores_activation_scale():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(1, 6, 5, 8)).astype(np.float32)
    style_features = rng.normal(size=(1, 9, 9, 8)).astype(np.float32)
    target = _numpy_gram(style_features)
    expected = np.sum((_numpy_gram(features) - target) ** 2) / np.sum(target ** 2)
    np.testing.assert_allclose(
        losses.relative_squared_error(losses.gram_matrix(features), target).numpy(), expected,
        rtol=1e-5)
    # Scaling every activation by 1000 (random vs ImageNet features) leaves the loss alone.
    scaled = losses.relative_squared_error(
        losses.gram_matrix(features * 1000), _numpy_gram(style_features * 1000))
    np.testing.assert_allclose(scaled.numpy(), expected, rtol=1e-4)


def test_total_variation_matches_numpy():
    image = np.random.default_rng(3).uniform(0, 255, size=(1, 5, 7, 3)).astype(np.float32)
    scaled = image / 255.0
    expected = (np.mean((scaled[:, 1:] - scaled[:, :-1]) ** 2)
                + np.mean((scaled[:, :, 1:] - scaled[:, :, :-1]) ** 2))
    np.testing.assert_allclose(losses.total_variation_loss(image).numpy(), expected, rtol=1e-5)
    flat = np.full((1, 5, 7, 3), 80.0, dtype=np.float32)
    assert losses.total_variation_loss(flat).numpy() == 0.0


def test_guided_gram_with_a_full_guide_is_the_gram_matrix():
    features = np.random.default_rng(4).normal(size=(1, 6, 8, 5)).astype(np.float32)
    ones = np.ones((1, 6, 8, 1), np.float32)
    np.testing.assert_allclose(losses.guided_gram_matrix(features, ones).numpy(),
                               _numpy_gram(features), rtol=1e-5)


def test_guided_gram_with_a_half_mask_is_the_gram_of_that_half():
    features = np.random.default_rng(5).normal(size=(1, 6, 8, 5)).astype(np.float32)
    left = np.zeros((1, 6, 8, 1), np.float32)
    left[:, :, :4] = 1.0
    np.testing.assert_allclose(losses.guided_gram_matrix(features, left).numpy(),
                               _numpy_gram(features[:, :, :4]), rtol=1e-5)


def test_temporal_loss_matches_numpy():
    rng = np.random.default_rng(4)
    image = rng.uniform(0, 255, (1, 6, 7, 3)).astype(np.float32)
    warped = rng.uniform(0, 255, (1, 6, 7, 3)).astype(np.float32)
    weights = (rng.uniform(size=(1, 6, 7, 1)) > 0.5).astype(np.float32)
    expected = np.sum(weights * ((image - warped) / 255.0) ** 2) / image.size
    assert float(losses.temporal_loss(image, warped, weights)) == pytest.approx(expected, rel=1e-5)
