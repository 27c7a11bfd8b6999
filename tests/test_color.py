"""Colour preservation against the formulas of Gatys, Bethge, Hertzmann & Shechtman (2016)."""

import numpy as np

from tf_style import color


def _image(seed, low=40, high=215, shape=(24, 32, 3)):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def test_yiq_round_trip_and_luminance_weights():
    image = _image(0)
    np.testing.assert_allclose(color.yiq_to_rgb(color.rgb_to_yiq(image)), image, atol=1e-3)
    expected_y = 0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]
    gray = color.luminance_image(image)
    for channel in range(3):
        np.testing.assert_allclose(gray[..., channel], expected_y, atol=1e-3)


def test_match_luminance_takes_the_contents_mean_and_spread():
    style, content = _image(1, 0, 120), _image(2, 80, 200)
    matched_y = color.rgb_to_yiq(color.match_luminance(style, content))[..., 0]
    content_y = color.rgb_to_yiq(content)[..., 0]
    assert abs(matched_y.mean() - content_y.mean()) < 0.05
    assert abs(matched_y.std() - content_y.std()) < 0.05


def test_with_content_colors_keeps_result_luminance_and_content_chrominance():
    result, content = _image(3, 90, 160), _image(4, 90, 160)
    combined = color.rgb_to_yiq(color.with_content_colors(result, content))
    np.testing.assert_allclose(combined[..., 0], color.rgb_to_yiq(result)[..., 0], atol=1e-2)
    np.testing.assert_allclose(combined[..., 1:], color.rgb_to_yiq(content)[..., 1:], atol=1e-2)


def test_histogram_matching_gives_the_contents_mean_and_covariance():
    rng = np.random.default_rng(5)
    # Correlated colours, well inside 0-255 so clipping does not interfere.
    style = (120 + rng.normal(size=(40, 40, 3)) @ np.array([[20, 5, 0], [0, 15, 4], [3, 0, 10]]))
    content = (110 + rng.normal(size=(30, 50, 3)) @ np.array([[12, 0, 6], [4, 18, 0], [0, 2, 14]]))
    matched = color.match_color_histogram(style, content).reshape(-1, 3)
    content = content.reshape(-1, 3)
    np.testing.assert_allclose(matched.mean(0), content.mean(0), atol=0.5)
    np.testing.assert_allclose(np.cov(matched.T), np.cov(content.T), rtol=0.03, atol=3)
