"""When a scale has converged: the loss has stopped improving over a window of steps."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class Convergence(tf.Module):
    """Tracks the lowest loss of a scale so far, step by step, in checkpointed variables.

    The scale has converged once the lowest loss of the last `window` steps is less than
    `tolerance` (relative) below the lowest loss before them. The lowest, not the last:
    L-BFGS's backtracking makes single losses go up now and then. A tolerance of 0 never
    stops. The state is in the checkpoint, so a resumed run stops at the same step.
    """

    def __init__(self, tolerance: float, window: int, name: str = "convergence"):
        super().__init__(name=name)
        if window < 1:
            raise ValueError(f"`window` must be at least 1. Received: window={window}")
        self.tolerance = float(tolerance)
        self.window = int(window)
        # lowest[k % (window + 1)]: the lowest loss over this scale's first k + 1 steps.
        self.lowest = tf.Variable(np.full(window + 1, np.inf), dtype=tf.float64,
                                  trainable=False, name="lowest")
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps")

    def update(self, loss: float) -> None:
        """Counts one more step of this scale, whose image had loss `loss`."""
        steps = int(self.steps)
        lowest = self._lowest_after(steps) if steps else np.inf
        if np.isfinite(loss):
            lowest = min(lowest, float(loss))
        self.lowest.scatter_update(tf.IndexedSlices(
            tf.constant([lowest], tf.float64), tf.constant([steps % (self.window + 1)])))
        self.steps.assign_add(1)

    def converged(self) -> bool:
        """Whether the last `window` steps improved the lowest loss by less than `tolerance`."""
        steps = int(self.steps)
        if self.tolerance <= 0 or steps <= self.window:
            return False
        now, then = self._lowest_after(steps), self._lowest_after(steps - self.window)
        return then - now <= self.tolerance * abs(then)

    def reset(self) -> None:
        """Forgets the scale's steps (a new scale, or going back to its start)."""
        self.lowest.assign(np.full(self.window + 1, np.inf))
        self.steps.assign(0)

    def _lowest_after(self, steps: int) -> float:
        """The lowest loss over the scale's first `steps` steps (steps >= 1, within the window)."""
        return float(self.lowest[(steps - 1) % (self.window + 1)])
