"""When a scale has converged: its loss has stopped improving, or its picture has stopped
changing visibly, over a window of steps."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import tensorflow as tf


class Convergence(tf.Module):
    """Tracks a scale's lowest loss and how much its picture changes, step by step, in
    checkpointed variables.

    The scale has converged once either:
    - the lowest loss of the last `window` steps is less than `tolerance` (relative) below
      the lowest loss before them. The lowest, not the last: L-BFGS's backtracking makes
      single losses go up now and then. A tolerance of 0 turns this off;
    - the picture moved less than `change` grey levels (0-255, mean over its pixels and
      channels) over the last `window` steps, judged every `window` steps against a copy
      kept at the last judgement (in float16: 0.125 grey levels at worst, 6 bytes a pixel).
      A change of 0 turns this off; `image_shape` is needed otherwise.

    The state is in the checkpoint, so a resumed run stops at the same step.
    """

    def __init__(self, tolerance: float, window: int, change: float = 0.0,
                 image_shape: Optional[Tuple[int, ...]] = None, name: str = "convergence"):
        super().__init__(name=name)
        if window < 1:
            raise ValueError(f"`window` must be at least 1. Received: window={window}")
        if change > 0 and image_shape is None:
            raise ValueError("`image_shape` is needed to judge the picture's change. "
                             f"Received: change={change}, image_shape=None")
        self.tolerance = float(tolerance)
        self.window = int(window)
        self.change = float(change)
        # lowest[k % (window + 1)]: the lowest loss over this scale's first k + 1 steps.
        self.lowest = tf.Variable(np.full(window + 1, np.inf), dtype=tf.float64,
                                  trainable=False, name="lowest")
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps")
        if self.change > 0:
            self.reference = tf.Variable(tf.zeros(image_shape, tf.float16), trainable=False,
                                         name="reference")
            # The change over the last judged window; negative until two judgements were made.
            self.last_change = tf.Variable(-1.0, dtype=tf.float64, trainable=False,
                                           name="last_change")
        self._picture_kept = True

    def update(self, loss: float, image: Optional[tf.Variable] = None) -> None:
        """Counts one more step of this scale, whose image had loss `loss` and which left
        `image` (needed when the change is judged)."""
        steps = int(self.steps)
        lowest = self._lowest_after(steps) if steps else np.inf
        if np.isfinite(loss):
            lowest = min(lowest, float(loss))
        self.lowest.scatter_update(tf.IndexedSlices(
            tf.constant([lowest], tf.float64), tf.constant([steps % (self.window + 1)])))
        self.steps.assign_add(1)
        if self.change > 0 and (steps + 1) % self.window == 0:
            if image is None:
                raise ValueError("`image` is needed every `window` steps to judge the change. "
                                 "Received: image=None")
            self._judge_change(image, first=steps + 1 == self.window)

    def converged(self) -> bool:
        """Whether the last `window` steps improved the lowest loss by less than `tolerance`,
        or moved the picture by less than `change` grey levels."""
        steps = int(self.steps)
        if self.change > 0 and 0 <= float(self.last_change) < self.change:
            return True
        if self.tolerance <= 0 or steps <= self.window:
            return False
        now, then = self._lowest_after(steps), self._lowest_after(steps - self.window)
        return then - now <= self.tolerance * abs(then)

    def why(self) -> str:
        """What ended the scale, for the log."""
        if self.change > 0 and 0 <= float(self.last_change) < self.change:
            return (f"the picture moved {float(self.last_change):.2f} grey levels over the last "
                    f"{self.window} steps (less than {self.change:g})")
        return f"the loss fell by less than {self.tolerance:g} over the last {self.window} steps"

    def change_variable_names(self) -> Tuple[str, ...]:
        """The names of the change rule's checkpointed variables (none when it is off)."""
        return ("reference", "last_change") if self.change > 0 else ()

    def forget_kept_picture(self) -> None:
        """After resuming from a checkpoint that kept no picture (taken with the change rule
        off): the next judgement only keeps one, the rule judges from the one after."""
        if self.change > 0:
            self.last_change.assign(-1.0)
            self._picture_kept = False

    def reset(self) -> None:
        """Forgets the scale's steps (a new scale, or going back to its start)."""
        self.lowest.assign(np.full(self.window + 1, np.inf))
        self.steps.assign(0)
        if self.change > 0:
            self.last_change.assign(-1.0)

    @tf.function
    def _change_from_reference(self, image: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.abs(tf.cast(image, tf.float32)
                                     - tf.cast(self.reference, tf.float32)))

    def _judge_change(self, image: tf.Variable, first: bool) -> None:
        """At the end of a window: the change since the last one, then this picture kept."""
        if not first and self._picture_kept:
            self.last_change.assign(float(self._change_from_reference(image)))
        self.reference.assign(tf.cast(image, tf.float16))
        self._picture_kept = True

    def _lowest_after(self, steps: int) -> float:
        """The lowest loss over the scale's first `steps` steps (steps >= 1, within the window)."""
        return float(self.lowest[(steps - 1) % (self.window + 1)])
