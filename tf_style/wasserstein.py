"""The Wasserstein-2 distance between Gaussians, with a matrix square root a step can afford.

For N(mu, Sigma) and N(mu_s, Sigma_s):
    W2^2 = ||mu - mu_s||^2 + Tr(Sigma + Sigma_s - 2 (Sigma_s^1/2 Sigma Sigma_s^1/2)^1/2)
(Dowson & Landau 1982; as a style loss, crowsonkb/style-transfer-pytorch). Only the trace
of the second square root is needed, a spectral function: Tr(M^1/2) = sum sqrt(lambda_i),
whose gradient is M^-1/2 / 2 from the same eigendecomposition (no eigenvector derivatives,
so repeated eigenvalues are harmless).

We depart from Newton-Schulz iterations here: on VGG19 features (random weights, 256 px)
M's condition number reaches ~1e10, and in float32 the coupled iterations were still 0.2%
off at 24 iterations (block4_conv1) and overflowed to NaN at 30, their inverse square root
93% off. For the same reason the matrices are float64 (`WassersteinLoss` casts the float32
sums): W2 is a small difference of large traces, and in float32 the optimiser drove it
below zero (-0.003 where float64 says +0.012, block4_conv1 at 512 px). A float64
eigendecomposition of a 512x512 matrix takes ~50 ms on 2 cores.
"""

from __future__ import annotations

import tensorflow as tf

# Added to both covariances' diagonals, relative to the target's mean eigenvalue
# (Tr(Sigma_s) / C): the features of a ReLU network have many near-empty directions, and
# their square roots' gradients would be unbounded.
RELATIVE_EPSILON = 1e-3
# Eigenvalues are rounding below this fraction of the largest (float64); the gradient's
# M^-1/2 treats them as this fraction, the value as zero.
EIGENVALUE_FLOOR = 1e-13


def _eigh(matrix: tf.Tensor):
    values, vectors = tf.linalg.eigh(_symmetric(matrix))
    floor = EIGENVALUE_FLOOR * tf.reduce_max(tf.abs(values), axis=-1, keepdims=True)
    return tf.maximum(values, 0.0), tf.maximum(values, floor), vectors


def square_root(matrix: tf.Tensor) -> tf.Tensor:
    """M^1/2 of a symmetric positive semi-definite matrix (a constant: no gradient)."""
    values, _, vectors = _eigh(tf.stop_gradient(matrix))
    scaled = vectors * tf.sqrt(values)[..., None, :]
    return _symmetric(scaled @ tf.linalg.matrix_transpose(vectors))


@tf.custom_gradient
def trace_of_square_root(matrix: tf.Tensor):
    """Tr(M^1/2) of a symmetric positive definite matrix; its gradient is M^-1/2 / 2."""
    values, floored, vectors = _eigh(matrix)

    def gradient(upstream: tf.Tensor) -> tf.Tensor:
        scaled = vectors * (0.5 / tf.sqrt(floored))[..., None, :]
        return upstream * _symmetric(scaled @ tf.linalg.matrix_transpose(vectors))

    return tf.reduce_sum(tf.sqrt(values), axis=-1), gradient


def squared_distance(mean: tf.Tensor, covariance: tf.Tensor, target_mean: tf.Tensor,
                     target_covariance: tf.Tensor, target_root: tf.Tensor) -> tf.Tensor:
    """W2^2 between N(mean, covariance) and N(target_mean, target_covariance), given the
    target's square root `target_root` (computed once per target)."""
    sandwich = target_root @ covariance @ target_root
    return (tf.reduce_sum(tf.square(mean - target_mean))
            + tf.linalg.trace(covariance) + tf.linalg.trace(target_covariance)
            - 2.0 * trace_of_square_root(sandwich))


def _symmetric(matrix: tf.Tensor) -> tf.Tensor:
    return 0.5 * (matrix + tf.linalg.matrix_transpose(matrix))
