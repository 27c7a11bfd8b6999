"""The objective's terms against NumPy and SciPy re-implementations of their formulas."""

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from tf_style import losses, objective, wasserstein

LAYER = "block1_conv1"


def _numpy_gram(features):
    batch, height, width, channels = features.shape
    flat = features.reshape(batch, height * width, channels)
    return np.einsum("bmi,bmj->bij", flat, flat) / (height * width)


def _style_loss(kind, features, style_features, guide=None, style_guide=None):
    """A style term of one layer whose target is `style_features`' moments, and its loss of
    `features`."""
    target = objective.moments_from_sums(objective.moment_sums(
        tf.constant(style_features), None if style_guide is None else tf.constant(style_guide)))
    guides = None if guide is None else {LAYER: tf.constant(guide)}
    term = objective.STYLE_LOSSES[kind]({LAYER: 1.0}, [objective.StyleRegion(1.0, {LAYER: target},
                                                                              guides)])
    sums = term.statistics({LAYER: tf.constant(features)}, term.position_maps())
    return float(term.loss(sums)[0])


def test_gram_loss_matches_a_hand_computed_gram():
    # Two positions, two channels: F = [[1, 2], [3, 4]], G = F^T F / 2.
    features = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=np.float32)  # (1, 1, 2, 2)
    target = objective.moments_from_sums(objective.moment_sums(tf.constant(features)))
    np.testing.assert_allclose(target.second_moment[0], np.array([[10.0, 14.0], [14.0, 20.0]]) / 2)
    np.testing.assert_allclose(target.mean[0], [2.0, 3.0])
    # The painting S = [[2, 0], [0, 2]]: A = S^T S / 2 = 2 I, ||A||^2 = 8; G - A = [[3, 7],
    # [7, 8]], ||G - A||^2 = 171: the loss is 171 / 8.
    painting = np.array([[[[2.0, 0.0], [0.0, 2.0]]]], dtype=np.float32)
    assert _style_loss("gram", features, painting) == pytest.approx(171 / 8, rel=1e-6)


def test_gram_loss_matches_numpy_and_ignores_activation_scale():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(1, 6, 5, 8)).astype(np.float32)
    style_features = rng.normal(size=(1, 9, 9, 8)).astype(np.float32)
    target = _numpy_gram(style_features)
    expected = np.sum((_numpy_gram(features) - target) ** 2) / np.sum(target ** 2)
    assert _style_loss("gram", features, style_features) == pytest.approx(expected, rel=1e-5)
    # Scaling every activation by 1000 (random vs ImageNet features) leaves the loss alone.
    assert _style_loss("gram", features * 1000, style_features * 1000) == pytest.approx(
        expected, rel=1e-4)


def test_guided_gram_loss_compares_the_guided_region_only():
    rng = np.random.default_rng(5)
    features = rng.normal(size=(1, 6, 8, 5)).astype(np.float32)
    style_features = rng.normal(size=(1, 7, 7, 5)).astype(np.float32)
    left = np.zeros((1, 6, 8, 1), np.float32)
    left[:, :, :4] = 1.0
    target = _numpy_gram(style_features)
    expected = (np.sum((_numpy_gram(features[:, :, :4]) - target) ** 2) / np.sum(target ** 2))
    assert _style_loss("gram", features, style_features, guide=left) == pytest.approx(
        expected, rel=1e-5)


def test_content_loss_is_relative_squared_error():
    rng = np.random.default_rng(1)
    features, target = rng.normal(size=(2, 1, 6, 6, 8)).astype(np.float32)
    term = objective.ContentLoss({LAYER: tf.constant(target)})
    sums = term.statistics({LAYER: tf.constant(features)}, term.position_maps())
    expected = np.sum((features - target) ** 2) / np.sum(target ** 2)
    assert float(term.loss(sums)[0]) == pytest.approx(expected, rel=1e-5)


def _scipy_w2(features, style_features, guide=None):
    """W2^2 between the Gaussians of the (guide^2-weighted) features and the style's, with
    both covariances shifted by eps Tr(Sigma_s)/C, over the style's ||mu_s||^2 + Tr(Sigma_s),
    in float64 by SciPy."""
    flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
    weights = np.ones(len(flat)) if guide is None else guide.reshape(-1).astype(np.float64) ** 2
    mean = weights @ flat / weights.sum()
    covariance = (flat * weights[:, None]).T @ flat / weights.sum() - np.outer(mean, mean)
    style = style_features.reshape(-1, style_features.shape[-1]).astype(np.float64)
    style_mean = style.mean(axis=0)
    style_covariance = style.T @ style / len(style) - np.outer(style_mean, style_mean)
    size = style_mean @ style_mean + np.trace(style_covariance)
    shift = wasserstein.RELATIVE_EPSILON * np.trace(style_covariance) / len(style_mean)
    covariance += shift * np.eye(len(mean))
    style_covariance += shift * np.eye(len(mean))
    root = scipy.linalg.sqrtm(style_covariance).real
    cross = scipy.linalg.sqrtm(root @ covariance @ root).real
    distance = (np.sum((mean - style_mean) ** 2) + np.trace(covariance)
                + np.trace(style_covariance) - 2 * np.trace(cross))
    return distance / size


@pytest.mark.parametrize("guided", [False, True])
def test_wasserstein_loss_and_its_gradient_match_scipy(guided):
    rng = np.random.default_rng(7)
    # Correlated, offset channels like a ReLU network's, not white noise.
    mixing = rng.normal(size=(6, 6))
    features = (np.abs(rng.normal(size=(1, 5, 7, 6)) @ mixing) + 0.5).astype(np.float32)
    style_features = (np.abs(rng.normal(size=(1, 8, 6, 6)) @ mixing.T)).astype(np.float32)
    guide = rng.uniform(0, 1, size=(1, 5, 7, 1)).astype(np.float32) if guided else None
    expected = _scipy_w2(features, style_features, guide)

    value = tf.constant(features)
    with tf.GradientTape() as tape:
        tape.watch(value)
        target = objective.moments_from_sums(objective.moment_sums(tf.constant(style_features)))
        term = objective.WassersteinLoss(
            {LAYER: 1.0}, [objective.StyleRegion(
                1.0, {LAYER: target}, None if guide is None else {LAYER: tf.constant(guide)})])
        loss = term.loss(term.statistics({LAYER: value}, term.position_maps()))[0]
    assert float(loss) == pytest.approx(expected, rel=1e-4)

    # Central differences of the SciPy reference in float64, along random directions.
    gradient = tape.gradient(loss, value).numpy().astype(np.float64)
    for _ in range(3):
        direction = rng.normal(size=features.shape)
        step = 1e-4
        numeric = (_scipy_w2(features + step * direction, style_features, guide)
                   - _scipy_w2(features - step * direction, style_features, guide)) / (2 * step)
        assert np.sum(gradient * direction) == pytest.approx(numeric, rel=1e-4)


def test_wasserstein_loss_of_the_style_itself_is_nearly_zero_and_grows_with_a_shift():
    rng = np.random.default_rng(8)
    style_features = np.abs(rng.normal(size=(1, 8, 8, 5))).astype(np.float32)
    same = _style_loss("w2", style_features, style_features)
    shifted = _style_loss("w2", style_features + 0.5, style_features)
    assert same < 1e-5
    # Shifting every channel by 0.5 moves the mean only: 5 * 0.25 over the style's size.
    flat = style_features.reshape(-1, 5).astype(np.float64)
    assert shifted == pytest.approx(5 * 0.25 / np.trace(flat.T @ flat / len(flat)), rel=1e-3)


def test_trace_of_square_root_and_its_gradient_match_scipy():
    rng = np.random.default_rng(9)
    half = rng.normal(size=(12, 20))
    matrix = half @ half.T / 20
    value = tf.constant(matrix, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(value)
        trace = wasserstein.trace_of_square_root(value)
    root = scipy.linalg.sqrtm(matrix).real
    assert float(trace) == pytest.approx(np.trace(root), rel=1e-5)
    # d Tr(M^1/2) / dM = M^-1/2 / 2
    np.testing.assert_allclose(tape.gradient(trace, value), 0.5 * np.linalg.inv(root),
                               rtol=1e-3, atol=1e-4 * np.abs(np.linalg.inv(root)).max())


def test_objective_adds_its_weighted_terms_and_reports_their_parts():
    rng = np.random.default_rng(10)
    features = rng.normal(size=(1, 6, 6, 4)).astype(np.float32)
    image = rng.uniform(0, 255, (1, 12, 12, 3)).astype(np.float32)
    deeper = rng.normal(size=(1, 3, 3, 6)).astype(np.float32)
    painting, deeper_painting = features * 2.0 + 0.5, rng.normal(size=(1, 4, 4, 6)).astype(np.float32)
    content = objective.ContentLoss({LAYER: tf.constant(features + 1.0)})
    targets = {layer: objective.moments_from_sums(objective.moment_sums(tf.constant(value)))
               for layer, value in ((LAYER, painting), ("deeper", deeper_painting))}
    style = objective.GramLoss({LAYER: 0.25, "deeper": 0.75}, [objective.StyleRegion(1.0, targets)])
    total_variation = objective.TotalVariation()
    terms = objective.Objective([(2.0, content), (3.0, style)], [(5.0, total_variation)])
    found = {LAYER: tf.constant(features), "deeper": tf.constant(deeper)}
    sums = terms.statistics(found, terms.position_maps())
    result = {name: float(value) for name, value in terms.losses(sums, tf.constant(image)).items()}
    assert set(result) == {"total", "content", "style", "tv", f"style/{LAYER}", "style/deeper"}
    assert terms.names == ("content", "style", "tv")
    # Each part against NumPy: Gatys' relative content error, each layer's relative Gram
    # error, the layers by their weights, the terms by theirs.
    assert result["content"] == pytest.approx(np.sum(1.0 ** 2 * np.ones_like(features))
                                              / np.sum((features + 1.0) ** 2), rel=1e-5)
    per_layer = {}
    for layer, value, style_value in ((LAYER, features, painting), ("deeper", deeper, deeper_painting)):
        target = _numpy_gram(style_value)
        per_layer[layer] = np.sum((_numpy_gram(value) - target) ** 2) / np.sum(target ** 2)
        assert result[f"style/{layer}"] == pytest.approx(per_layer[layer], rel=1e-5)
    assert result["style"] == pytest.approx(0.25 * per_layer[LAYER] + 0.75 * per_layer["deeper"],
                                            rel=1e-5)
    assert result["tv"] == pytest.approx(float(losses.total_variation_loss(tf.constant(image))))
    assert result["total"] == pytest.approx(2 * result["content"] + 3 * result["style"]
                                            + 5 * result["tv"], rel=1e-6)


def test_wasserstein_loss_keeps_its_sign_on_ill_conditioned_features():
    """Like VGG19's deep layers: large means, variances over ten decades. In float32 the
    loss went below zero here; the distance itself cannot."""
    rng = np.random.default_rng(11)
    scales = np.logspace(-3, 2, 64)
    features = (rng.normal(size=(1, 40, 40, 64)) * scales + 3 * scales.max()).astype(np.float32)
    style_features = (rng.normal(size=(1, 40, 40, 64)) * scales[::-1] * 1.1
                      + 3 * scales.max()).astype(np.float32)
    loss = _style_loss("w2", features, style_features)
    assert loss > 0
    assert loss == pytest.approx(_scipy_w2(features, style_features), rel=1e-3)
