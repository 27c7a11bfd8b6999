"""The losses of Gatys et al., as pure functions of tensors.

We depart from the paper in one way: every term is divided by the size (squared
norm) of its target. Gatys's 1/(4 N^2 M^2) makes the style term depend on the
network's activation scale, which differs by orders of magnitude between ImageNet
and random weights; a relative error keeps `--style_weight` meaningful for both.
"""

from __future__ import annotations

import tensorflow as tf

# Guards the division for a target with no energy (e.g. a black image on block1).
TINY = 1e-12


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """G = F^T F / M for features (batch, H, W, C), M = H*W: (batch, C, C).

    Gatys's G_ij = sum_k F_ik F_jk, divided by the number of positions so that
    images of different sizes (content vs style) give comparable Grams.
    """
    shape = tf.shape(features)
    positions = tf.cast(shape[1] * shape[2], tf.float32)
    return outer_sum(features) / positions


def guided_gram_matrix(features: tf.Tensor, guide: tf.Tensor) -> tf.Tensor:
    """Gram matrix of the features inside a region: (F*T)^T (F*T) / sum(T^2).

    `guide` (batch, H, W, 1) in [0, 1] marks the region (Gatys et al., "Controlling
    Perceptual Factors in Neural Style Transfer", CVPR 2017). Dividing by the region's
    size keeps it comparable with `gram_matrix`, which it equals for an all-ones guide.
    """
    guided = tf.cast(features, tf.float32) * guide
    area = tf.reduce_sum(tf.square(guide), axis=[1, 2, 3])
    return outer_sum(guided) / (area[:, None, None] + TINY)


def outer_sum(features: tf.Tensor) -> tf.Tensor:
    """F^T F over positions (not divided by their number), in float32 whatever the features'
    precision, as one batched matmul of the (batch, H*W, C) view.

    Faster than the equivalent einsum, which TensorFlow lowers with a transpose copy
    (at 256x192 px, block1: 11 ms instead of 18 ms forward and backward on 2 cores).
    """
    if features.dtype == tf.float32:
        return _float32_outer_sum(features)
    return _outer_sum_of_half_precision(features)


def _float32_outer_sum(features: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(features)
    flat = tf.reshape(features, [shape[0], shape[1] * shape[2], shape[3]])
    return tf.matmul(flat, flat, transpose_a=True)


@tf.custom_gradient
def _outer_sum_of_half_precision(features: tf.Tensor):
    """`outer_sum` of bfloat16 or float16 features, taken in float32. Its backward pass
    makes the float32 copy again instead of keeping it: twice the size of the features,
    which the network keeps anyway (block1_conv1 at 2048x1536: 0.8 GB)."""
    def flat_float32():
        shape = tf.shape(features)
        return tf.reshape(tf.cast(features, tf.float32), [shape[0], shape[1] * shape[2], shape[3]])

    def gradient(upstream: tf.Tensor) -> tf.Tensor:
        # d(F^T F) = F (dG + dG^T)
        change = tf.matmul(flat_float32(), upstream + tf.linalg.matrix_transpose(upstream))
        return tf.cast(tf.reshape(change, tf.shape(features)), features.dtype)

    flat = flat_float32()
    return tf.matmul(flat, flat, transpose_a=True), gradient


def relative_squared_error(value: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """sum((value - target)^2) / sum(target^2), in float32."""
    value, target = tf.cast(value, tf.float32), tf.cast(target, tf.float32)
    return tf.reduce_sum(tf.square(value - target)) / (tf.reduce_sum(tf.square(target)) + TINY)


def content_loss(features: tf.Tensor, target_features: tf.Tensor) -> tf.Tensor:
    """L_content = ||F - P||^2 / ||P||^2 (Gatys eq. 1, normalised)."""
    return relative_squared_error(features, target_features)


def total_variation_loss(image: tf.Tensor) -> tf.Tensor:
    """Mean squared difference of neighbouring pixels, in [0, 1] pixel units.

    For (batch, H, W, C) images in 0-255; the mean makes it independent of image size.
    """
    scaled = image / 255.0
    vertical = tf.reduce_mean(tf.square(scaled[:, 1:, :, :] - scaled[:, :-1, :, :]))
    horizontal = tf.reduce_mean(tf.square(scaled[:, :, 1:, :] - scaled[:, :, :-1, :]))
    return vertical + horizontal


def temporal_loss(image: tf.Tensor, warped: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """L_temporal = 1/D sum_k c_k (x_k - w_k)^2 (Ruder et al. eq. 5), in [0, 1] pixel units.

    `warped` is the previous stylised frame carried along the optical flow, `weights` c
    (batch, H, W, 1) is 1 where that flow is reliable; D counts every pixel and channel.
    """
    return tf.reduce_mean(weights * tf.square((image - warped) / 255.0))
