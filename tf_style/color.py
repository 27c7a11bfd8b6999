"""Colour preservation (Gatys, Bethge, Hertzmann & Shechtman, "Preserving Color in Neural
Artistic Style Transfer", 2016), on RGB float arrays in 0-255, in NumPy.

- luminance: transfer runs on luminance only (YIQ's Y, as a grey RGB image), with the
  style's luminance matched to the content's mean and spread; the result's Y is then
  joined with the content's I and Q, so every colour comes from the photo.
- histogram: the style image is recoloured before transfer so its colour mean and
  covariance equal the content's (the paper's "image analogies" transform,
  A = Sigma_c^1/2 Sigma_s^-1/2), then transfer runs as usual.
"""

from __future__ import annotations

import numpy as np

_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.595716, -0.274453, -0.321263],
                        [0.211456, -0.522591, 0.311135]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    return image @ _RGB_TO_YIQ.T


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
    return image @ _YIQ_TO_RGB.T


def luminance_image(image: np.ndarray) -> np.ndarray:
    """The image's luminance Y as a grey RGB image (Y, Y, Y)."""
    luminance = rgb_to_yiq(image)[..., :1]
    return np.repeat(luminance, 3, axis=-1).astype(np.float32)


def match_luminance(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Grey style luminance shifted and scaled to the content's: s' = sd_c/sd_s (s - mu_s) + mu_c."""
    style_y = rgb_to_yiq(style)[..., 0]
    content_y = rgb_to_yiq(content)[..., 0]
    spread = content_y.std() / max(style_y.std(), 1e-6)
    matched = spread * (style_y - style_y.mean()) + content_y.mean()
    return np.repeat(np.clip(matched, 0, 255)[..., None], 3, axis=-1).astype(np.float32)


def with_content_colors(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The result's luminance with the content's chrominance (I, Q)."""
    combined = np.concatenate([rgb_to_yiq(result)[..., :1], rgb_to_yiq(content)[..., 1:]], axis=-1)
    return np.clip(yiq_to_rgb(combined), 0, 255).astype(np.float32)


def match_color_histogram(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The style recoloured so its RGB mean and covariance equal the content's."""
    style_pixels = style.reshape(-1, 3).astype(np.float64)
    content_pixels = content.reshape(-1, 3).astype(np.float64)
    style_mean, content_mean = style_pixels.mean(0), content_pixels.mean(0)
    transform = (_matrix_power(np.cov(content_pixels.T), 0.5)
                 @ _matrix_power(np.cov(style_pixels.T), -0.5))
    matched = (style_pixels - style_mean) @ transform.T + content_mean
    return np.clip(matched, 0, 255).reshape(style.shape).astype(np.float32)


def _matrix_power(covariance: np.ndarray, power: float) -> np.ndarray:
    """Symmetric matrix power through the eigendecomposition (eigenvalues floored)."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues = np.maximum(eigenvalues, 1e-5)
    return (eigenvectors * eigenvalues ** power) @ eigenvectors.T
