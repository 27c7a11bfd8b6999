"""L-BFGS, the optimizer of Gatys et al., for one tf.Variable inside a tf.function.

Every piece of state (the last `history_size` position and gradient differences, the
last accepted point) lives in tf.Variables, so a tf.train.Checkpoint holds it and a
resumed run continues exactly.

One loss-and-gradient evaluation per step: the sufficient-decrease (Armijo) test of a
step is made at the start of the next one, on the loss computed there anyway. A step
that fails it is halved from the last accepted point (backtracking) and the history is
left alone; a step that passes adds its (s, y) pair and takes a new quasi-Newton step
(Nocedal & Wright, Numerical Optimization, Algorithm 7.4, the two-loop recursion).

The history is most of the optimizer's memory: 2 x history x (H x W x 3) numbers, 8 GB
at 7680x4320 in float32. With `compact_history` (the default) each s and y row is kept
as 16-bit integers in units of its largest magnitude / 32767, with that scale in float32:
half the memory, an error of at most 1/65534 of the row's largest element, and no
underflow however small the gradients. (Not float16: oneDNN has no float16 kernels
without AVX-512 and says so on stderr.)
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

_CURVATURE_EPSILON = 1e-10
_INT16_MAX = 32767.0


def _dot(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    # Not tf.tensordot: on 1-D tensors it runs ~10x slower on CPU (7 ms against 0.5 ms
    # for 590k floats, one thread), which made the optimizer cost more than the network.
    return tf.reduce_sum(a * b)


class LBFGS(tf.Module):
    """L-BFGS with lazy backtracking. Call `build([variable])`, then `apply(...)` per step.

    With no history yet the step is steepest descent scaled so that no element moves
    more than `learning_rate` (one pixel for the default 1.0, in 0-255 units); with
    history it is `learning_rate` times the quasi-Newton step.

    With `bounds` (the caller clips to them after each step), elements at a bound whose
    gradient points outward are held still, as in L-BFGS-B's active set: otherwise the
    clipping can turn a descent direction into an ascent one. A direction that is not
    a descent direction, or a step that still fails after `max_backtracks` halvings,
    restarts from the last accepted point with steepest descent and no history.

    `loss_tolerance` is the relative noise of the losses it is given (a half-precision
    network's rounding): the sufficient-decrease test lets a step raise the loss by that
    much (the approximate Wolfe condition of Hager & Zhang, SIAM J. Optim. 2005). Without
    it, once the true decrease per step falls below the noise every step fails the test
    and L-BFGS stalls.
    """

    def __init__(self, learning_rate: float = 1.0, history_size: int = 10,
                 armijo: float = 1e-4, max_backtracks: int = 10,
                 bounds: Optional[Tuple[float, float]] = None,
                 max_element_step: Optional[float] = None, compact_history: bool = True,
                 loss_tolerance: float = 0.0, name: str = "lbfgs"):
        super().__init__(name=name)
        self.history_dtype = tf.int16 if compact_history else tf.float32
        self.bounds = bounds
        self.max_element_step = max_element_step
        if history_size < 1:
            raise ValueError(f"`history_size` must be at least 1. Received: {history_size}")
        # A variable, so a run that rolls back after a non-finite loss can halve it.
        self.learning_rate = tf.Variable(float(learning_rate), dtype=tf.float32, trainable=False,
                                         name="learning_rate")
        self.history_size = int(history_size)
        self.armijo = float(armijo)
        self.max_backtracks = int(max_backtracks)
        self.loss_tolerance = float(loss_tolerance)

    def build(self, var_list: Sequence[tf.Variable]) -> None:
        (variable,) = var_list
        size = int(np.prod(variable.shape))
        history = self.history_size

        def zeros(*shape, name, dtype=tf.float32):
            return tf.Variable(tf.zeros(shape, dtype), trainable=False, name=name)

        # Row i of s (or y) is position_differences[i] * position_scales[i].
        self.position_differences = zeros(history, size, name="s", dtype=self.history_dtype)
        self.gradient_differences = zeros(history, size, name="y", dtype=self.history_dtype)
        self.position_scales = zeros(history, name="s_scale")
        self.gradient_scales = zeros(history, name="y_scale")
        self.inverse_curvatures = zeros(history, name="rho")  # 1 / (y . s)
        self.pairs = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="pairs")
        self.accepted_position = zeros(size, name="accepted_position")
        self.accepted_gradient = zeros(size, name="accepted_gradient")
        self.step = zeros(size, name="step")  # the last step before clipping
        self.accepted_loss = tf.Variable(np.inf, dtype=tf.float32, trainable=False, name="accepted_loss")
        self.backtracks = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="backtracks")
        self.iterations = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="iterations")

    def restart(self) -> None:
        """Forgets the history and the last accepted point: the next step is steepest descent."""
        self.pairs.assign(0)
        self.backtracks.assign(0)
        self.iterations.assign(0)
        self.accepted_loss.assign(np.inf)

    def apply(self, variable: tf.Variable, loss: tf.Tensor, gradient: tf.Tensor) -> None:
        """One step from the variable's value, given the loss and gradient there."""
        with tf.name_scope("lbfgs"):
            self._apply(variable, loss, gradient)

    def _apply(self, variable: tf.Variable, loss: tf.Tensor, gradient: tf.Tensor) -> None:
        position = tf.reshape(variable, [-1])
        flat_gradient = tf.reshape(tf.cast(gradient, tf.float32), [-1])
        loss = tf.cast(loss, tf.float32)
        displacement = position - self.accepted_position
        with tf.name_scope("line_search"):
            # Armijo: f(x_k + s) <= f(x_k) + c1 g_k.s, s the step actually taken (after clipping).
            allowed = self.accepted_loss + self.armijo * _dot(self.accepted_gradient, displacement)
            if self.loss_tolerance:
                allowed += self.loss_tolerance * tf.abs(self.accepted_loss)
            sufficient = loss <= allowed
            give_up = self.backtracks >= self.max_backtracks

        def accept():
            self._remember_pair(displacement, flat_gradient - self.accepted_gradient)
            self.backtracks.assign(0)
            self.accepted_position.assign(position)
            self.accepted_gradient.assign(flat_gradient)
            self.accepted_loss.assign(loss)
            self.step.assign(self._step(flat_gradient, position))
            variable.assign(tf.reshape(position + self.step, variable.shape))

        def restart():
            self.pairs.assign(0)
            self.backtracks.assign(0)
            self.step.assign(self._step(self.accepted_gradient, self.accepted_position))
            variable.assign(tf.reshape(self.accepted_position + self.step, variable.shape))

        def backtrack():
            # Halve the step itself, not the clipped displacement: clip(x + t d) is a
            # descent path for small t, the shrunken clipped displacement need not be.
            self.backtracks.assign_add(1)
            self.step.assign(0.5 * self.step)
            variable.assign(tf.reshape(self.accepted_position + self.step, variable.shape))

        first = tf.equal(self.iterations, 0)
        tf.cond(first | sufficient, accept, lambda: tf.cond(give_up, restart, backtrack))
        self.iterations.assign_add(1)

    def _remember_pair(self, position_difference: tf.Tensor, gradient_difference: tf.Tensor) -> None:
        with tf.name_scope("history"):
            self._push_pair(position_difference, gradient_difference)

    def _push_pair(self, position_difference: tf.Tensor, gradient_difference: tf.Tensor) -> None:
        position_row, position_scale = self._encoded(position_difference)
        gradient_row, gradient_scale = self._encoded(gradient_difference)
        # The curvature of the pair as stored, so the two-loop recursion sees consistent values.
        curvature = _dot(self._decoded(gradient_row, gradient_scale),
                         self._decoded(position_row, position_scale))

        def push():
            # Scatter into the history in place: slice-assigning a row makes TensorFlow
            # copy the whole (history, size) buffer.
            index = (self.pairs % self.history_size)[None]
            for rows, scales, row, scale in (
                    (self.position_differences, self.position_scales, position_row, position_scale),
                    (self.gradient_differences, self.gradient_scales, gradient_row, gradient_scale)):
                rows.scatter_update(tf.IndexedSlices(row[None], index))
                scales.scatter_update(tf.IndexedSlices(scale[None], index))
            self.inverse_curvatures.scatter_update(tf.IndexedSlices((1.0 / curvature)[None], index))
            self.pairs.assign_add(1)

        # Only pairs of positive curvature keep the inverse Hessian estimate positive
        # definite (and the first call, with no previous point, has none).
        tf.cond((self.iterations > 0) & (curvature > _CURVATURE_EPSILON), push, lambda: None)

    def _encoded(self, row: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        """A history row as stored: (row / scale in the history's dtype, scale)."""
        if self.history_dtype == tf.float32:
            return row, tf.constant(1.0)
        scale = tf.maximum(tf.reduce_max(tf.abs(row)), 1e-30) / _INT16_MAX
        return tf.cast(tf.round(row / scale), self.history_dtype), scale

    @staticmethod
    def _decoded(row: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
        return tf.cast(row, tf.float32) * scale

    def _history_row(self, rows: tf.Variable, scales: tf.Variable, index: tf.Tensor) -> tf.Tensor:
        """One stored row, read on its own (gathering them all would copy the whole history)."""
        return self._decoded(tf.gather(rows, index), tf.gather(scales, index))

    def _step(self, gradient: tf.Tensor, position: tf.Tensor) -> tf.Tensor:
        """-learning_rate * H g by the two-loop recursion, on the elements free to move."""
        with tf.name_scope("two_loop"):
            return self._two_loop(gradient, position)

    def _two_loop(self, gradient: tf.Tensor, position: tf.Tensor) -> tf.Tensor:
        free = tf.ones_like(gradient)
        if self.bounds is not None:
            lower, upper = self.bounds
            held = ((position <= lower) & (gradient > 0)) | ((position >= upper) & (gradient < 0))
            free = 1.0 - tf.cast(held, gradient.dtype)
        gradient = gradient * free
        history = self.history_size
        count = tf.minimum(self.pairs, history)
        newest = (self.pairs - 1) % history
        ages = tf.range(history, dtype=tf.int64)
        order = tf.unstack((newest - ages) % history)  # newest to oldest; unused slots masked
        inverse_curvatures = tf.unstack(tf.gather(self.inverse_curvatures, order))

        def row(rows, scales, age, after):
            # Read only once `after` exists: TensorFlow runs every op whose inputs are ready,
            # so without this the 4 x history row reads ran at once, image-sized each
            # (measured: peak RSS 3.66 -> 2.45 GB at 2048x1536 in 256 px tiles).
            with tf.control_dependencies([after]):
                return self._history_row(rows, scales, order[age])

        def s_row(age, after):
            return row(self.position_differences, self.position_scales, age, after)

        def y_row(age, after):
            return row(self.gradient_differences, self.gradient_scales, age, after)

        q = gradient
        coefficients = []
        for age in range(history):
            valid = tf.cast(age < count, tf.float32)
            alpha = valid * inverse_curvatures[age] * _dot(s_row(age, q), q)
            q -= alpha * y_row(age, alpha)
            coefficients.append((alpha, valid))
        newest_y = y_row(0, q)
        scale = _dot(s_row(0, newest_y), newest_y) / tf.maximum(
            _dot(newest_y, newest_y), _CURVATURE_EPSILON)
        r = scale * q
        for age in reversed(range(history)):
            alpha, valid = coefficients[age]
            beta = valid * inverse_curvatures[age] * _dot(y_row(age, r), r)
            r += s_row(age, beta) * (alpha - beta)
        quasi_newton = -self.learning_rate * r * free
        is_descent = _dot(gradient, quasi_newton) < 0
        use_history = (count > 0) & is_descent

        def steepest():  # made only when taken: at 8K each image-sized buffer is 0.4 GB
            return -gradient * self.learning_rate / tf.maximum(
                tf.reduce_max(tf.abs(gradient)), 1e-30)

        step = tf.cond(use_history, lambda: quasi_newton, steepest)
        if self.max_element_step is not None:
            # A trust region: early curvature estimates can ask for huge moves.
            largest = tf.reduce_max(tf.abs(step))
            step *= tf.minimum(1.0, self.max_element_step / tf.maximum(largest, 1e-30))
        return step
