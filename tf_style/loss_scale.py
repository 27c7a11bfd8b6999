"""Dynamic loss scaling for a network that computes in float16.

float16 keeps numbers down to 6e-8 only: the normalised losses' gradients with respect to
deep features are smaller than that and would vanish in the backward pass. So the
gradient is taken of the loss times a scale and divided by it afterwards (Micikevicius et
al., "Mixed Precision Training", ICLR 2018). Keras's `LossScaleOptimizer` holds the same
logic, but L-BFGS is not a Keras optimizer, so it lives in our step: a non-finite
gradient halves the scale and the step is taken again; after GROWTH_STEPS finite ones
the scale doubles. bfloat16 has float32's range and needs none of this.
"""

from __future__ import annotations

import tensorflow as tf

# Keras's defaults (keras.optimizers.LossScaleOptimizer).
INITIAL_SCALE = 2.0 ** 15
GROWTH_STEPS = 2000
# Halvings a step may take before its gradient counts as non-finite: 2^15 down to 2^-15.
MAX_HALVINGS = 30


class DynamicLossScale(tf.Module):
    """The scale and the count of finite steps since it last changed, both checkpointed."""

    def __init__(self, name: str = "loss_scale"):
        super().__init__(name=name)
        self.scale = tf.Variable(INITIAL_SCALE, dtype=tf.float32, trainable=False, name="scale")
        self.finite_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="finite_steps")

    def update(self, finite: tf.Tensor) -> None:
        """After a gradient: doubles the scale after GROWTH_STEPS finite ones in a row,
        halves it after a non-finite one."""
        def grow_or_count():
            grow = self.finite_steps + 1 >= GROWTH_STEPS
            self.scale.assign(tf.where(grow, self.scale * 2.0, self.scale))
            self.finite_steps.assign(tf.where(grow, tf.constant(0, tf.int64), self.finite_steps + 1))

        def shrink():
            self.scale.assign(self.scale * 0.5)
            self.finite_steps.assign(0)

        tf.cond(finite, grow_or_count, shrink)


def all_finite(tensor: tf.Tensor) -> tf.Tensor:
    """Whether every element is a number."""
    return tf.reduce_all(tf.math.is_finite(tensor))
