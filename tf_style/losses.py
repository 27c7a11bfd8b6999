"""The losses' formulas, as pure functions of tensors (`objective` composes them into terms).

We depart from the paper in one way: every term is divided by the size (squared
norm) of its target. Gatys's 1/(4 N^2 M^2) makes the style term depend on the
network's activation scale, which differs by orders of magnitude between ImageNet
and random weights; a relative error keeps `--style_weight` meaningful for both.
"""

from __future__ import annotations

from typing import Tuple

import tensorflow as tf

# Guards the division for a target with no energy (e.g. a black image on block1).
TINY = 1e-12


def outer_sum(features: tf.Tensor) -> tf.Tensor:
    """F^T F over positions (not divided by their number), in float32 whatever the features'
    precision, as one batched matmul of the (batch, H*W, C) view.

    Faster than the equivalent einsum, which TensorFlow lowers with a transpose copy
    (at 256x192 px, block1: 11 ms instead of 18 ms forward and backward on 2 cores). Its
    gradient is one matmul, F (dG + dG^T); TensorFlow's own takes one for each operand
    (C=512: 23 ms instead of 13 ms). Half-precision features are cast to float32 again in
    the backward pass instead of keeping the copy: twice their size, which the network
    keeps anyway (block1_conv1 at 2048x1536: 0.8 GB).
    """
    return _outer_sum(features)


@tf.custom_gradient
def _outer_sum(features: tf.Tensor):
    def flat_float32():
        shape = tf.shape(features)
        return tf.reshape(tf.cast(features, tf.float32), [shape[0], shape[1] * shape[2], shape[3]])

    def gradient(upstream: tf.Tensor) -> tf.Tensor:
        change = tf.matmul(flat_float32(), upstream + tf.linalg.matrix_transpose(upstream))
        return tf.cast(tf.reshape(change, tf.shape(features)), features.dtype)

    flat = flat_float32()
    return tf.matmul(flat, flat, transpose_a=True), gradient


def relative_squared_error(value: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """sum((value - target)^2) / sum(target^2), in float32."""
    value, target = tf.cast(value, tf.float32), tf.cast(target, tf.float32)
    return tf.reduce_sum(tf.square(value - target)) / (tf.reduce_sum(tf.square(target)) + TINY)


def total_variation_loss(image: tf.Tensor, wrap: Tuple[bool, bool] = (False, False)) -> tf.Tensor:
    """Mean squared difference of neighbouring pixels, in [0, 1] pixel units.

    For (batch, H, W, C) images in 0-255; the mean makes it independent of image size. On
    an axis that wraps around (`wrap`: rows, columns) the last pixel neighbours the first.
    """
    scaled = image / 255.0
    vertical = tf.reduce_mean(tf.square(_neighbour_differences(scaled, 1, wrap[0])))
    horizontal = tf.reduce_mean(tf.square(_neighbour_differences(scaled, 2, wrap[1])))
    return vertical + horizontal


def _neighbour_differences(image: tf.Tensor, axis: int, wraps: bool) -> tf.Tensor:
    if wraps:
        return image - tf.roll(image, 1, axis=axis)
    if axis == 1:
        return image[:, 1:, :, :] - image[:, :-1, :, :]
    return image[:, :, 1:, :] - image[:, :, :-1, :]


def temporal_loss(image: tf.Tensor, warped: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """L_temporal = 1/D sum_k c_k (x_k - w_k)^2 (Ruder et al. eq. 5), in [0, 1] pixel units.

    `warped` is the previous stylised frame carried along the optical flow, `weights` c
    (batch, H, W, 1) is 1 where that flow is reliable; D counts every pixel and channel.
    """
    return tf.reduce_mean(weights * tf.square((image - warped) / 255.0))


# The 3x3 discrete Laplacian (Li et al. 2017, eq. 2).
_LAPLACIAN = ((0.0, -1.0, 0.0), (-1.0, 4.0, -1.0), (0.0, -1.0, 0.0))


def pooled_laplacian(image: tf.Tensor, pool: int,
                     wrap: Tuple[bool, bool] = (False, False)) -> tf.Tensor:
    """The Laplacian of each channel of a (batch, H, W, C) 0-255 image after pool x pool
    average pooling, in [0, 1] pixel units; valid positions only, except on an axis that
    wraps around (`wrap`: rows, columns), where every position is."""
    scaled = tf.cast(image, tf.float32) / 255.0
    if pool > 1:
        scaled = tf.nn.avg_pool2d(scaled, pool, pool, "VALID")
    if wrap[0]:
        scaled = tf.concat([scaled[:, -1:], scaled, scaled[:, :1]], axis=1)
    if wrap[1]:
        scaled = tf.concat([scaled[:, :, -1:], scaled, scaled[:, :, :1]], axis=2)
    channels = scaled.shape[-1]
    kernel = tf.tile(tf.constant(_LAPLACIAN)[:, :, None, None], [1, 1, channels, 1])
    return tf.nn.depthwise_conv2d(scaled, kernel, [1, 1, 1, 1], "VALID")
