"""L-BFGS inside tf.function: convergence, descent, and exact continuation from a checkpoint."""

import numpy as np
import tensorflow as tf

from tf_style.lbfgs import LBFGS


def _quadratic(size=20, condition=100.0, seed=0):
    """f(x) = 1/2 (x - c)^T A (x - c) with A's eigenvalues spread over `condition`."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(size, size)))
    matrix = (basis * np.geomspace(1.0, condition, size)) @ basis.T
    centre = rng.normal(size=size) * 10
    return tf.constant(matrix, tf.float32), tf.constant(centre, tf.float32)


def _stepper(optimizer, variable, matrix, centre):
    """A compiled step that returns the loss at the point it started from."""
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            difference = variable - centre
            loss = 0.5 * tf.tensordot(difference, tf.linalg.matvec(matrix, difference), 1)
        optimizer.apply(variable, loss, tape.gradient(loss, variable))
        return loss

    return step


def _minimise(optimizer, variable, matrix, centre, steps):
    step = _stepper(optimizer, variable, matrix, centre)
    return [float(step()) for _ in range(steps)]


def test_converges_on_an_ill_conditioned_quadratic_where_steepest_descent_crawls():
    matrix, centre = _quadratic()
    variable = tf.Variable(tf.zeros(20))
    optimizer = LBFGS(history_size=10)
    optimizer.build([variable])
    losses = _minimise(optimizer, variable, matrix, centre, steps=60)
    np.testing.assert_allclose(variable.numpy(), centre.numpy(), atol=1e-2)
    assert losses[-1] < 1e-6 * losses[0]
    # With one pair of history (a Barzilai-Borwein step) it gets ~150x less far in the
    # same number of evaluations: the history is what makes the difference.
    crawler = tf.Variable(tf.zeros(20))
    short = LBFGS(history_size=1)
    short.build([crawler])
    short_losses = _minimise(short, crawler, matrix, centre, steps=60)
    assert losses[-1] < 0.05 * short_losses[-1]


def test_accepted_losses_never_increase():
    matrix, centre = _quadratic(condition=1000.0, seed=1)
    variable = tf.Variable(tf.zeros(20))
    optimizer = LBFGS(learning_rate=1.0, history_size=5)
    optimizer.build([variable])
    step = _stepper(optimizer, variable, matrix, centre)
    accepted = []
    for _ in range(40):
        step()
        accepted.append(float(optimizer.accepted_loss))
    assert all(later <= earlier for earlier, later in zip(accepted, accepted[1:]))
    assert accepted[-1] < 1e-3 * accepted[0]


def test_checkpoint_holds_the_whole_state(tmp_path):
    matrix, centre = _quadratic(seed=2)
    straight_variable = tf.Variable(tf.zeros(20))
    straight = LBFGS(history_size=4)
    straight.build([straight_variable])
    _minimise(straight, straight_variable, matrix, centre, steps=12)

    first_variable = tf.Variable(tf.zeros(20))
    first = LBFGS(history_size=4)
    first.build([first_variable])
    _minimise(first, first_variable, matrix, centre, steps=6)
    path = tf.train.Checkpoint(x=first_variable, optimizer=first).write(str(tmp_path / "ckpt"))

    resumed_variable = tf.Variable(tf.zeros(20))
    resumed = LBFGS(history_size=4)
    resumed.build([resumed_variable])
    tf.train.Checkpoint(x=resumed_variable, optimizer=resumed).read(path).assert_consumed()
    _minimise(resumed, resumed_variable, matrix, centre, steps=6)
    np.testing.assert_array_equal(resumed_variable.numpy(), straight_variable.numpy())


def test_compact_history_keeps_each_pair_to_16_bits_and_converges_alike():
    matrix, centre = _quadratic(seed=3)
    runs = {}
    for compact in (True, False):
        variable = tf.Variable(tf.zeros(20))
        optimizer = LBFGS(history_size=5, compact_history=compact)
        optimizer.build([variable])
        runs[compact] = (_minimise(optimizer, variable, matrix, centre, steps=40), optimizer)
    compact_losses, compact = runs[True]
    full_losses, full = runs[False]
    assert compact.position_differences.dtype == tf.int16
    assert full.position_differences.dtype == tf.float32
    # The first steps agree to 16-bit rounding, and both reach the minimum.
    np.testing.assert_allclose(compact_losses[:4], full_losses[:4], rtol=1e-3)
    assert compact_losses[-1] < 1e-6 * compact_losses[0]
    # A stored row, scaled back, is within half a unit (1/65534) of its largest element.
    row = tf.constant(np.random.default_rng(0).normal(size=20) * 1e-9, tf.float32)
    stored, scale = compact._encoded(row)
    error = np.abs(LBFGS._decoded(stored, scale).numpy() - row.numpy())
    assert error.max() <= 1.0001 * np.abs(row.numpy()).max() / 65534


def test_a_loss_tolerance_keeps_descending_through_rounding_noise():
    """A loss of 100 at the minimum seen with 0.1% relative noise, as through a
    half-precision network: without slack the sufficient-decrease test fails once the true
    decrease per step is below the noise, and L-BFGS stalls; with the noise allowed for it
    goes on to the minimum (the gradient itself is exact here)."""
    matrix, centre = _quadratic(condition=1000.0, seed=2)

    def smallest_excess(loss_tolerance):
        variable = tf.Variable(tf.zeros(20))
        optimizer = LBFGS(history_size=10, loss_tolerance=loss_tolerance)
        optimizer.build([variable])

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                difference = variable - centre
                excess = 0.5 * tf.tensordot(difference, tf.linalg.matvec(matrix, difference), 1)
            noise = 1e-3 * tf.sin(1e4 * tf.reduce_sum(variable))  # deterministic "rounding"
            optimizer.apply(variable, (100.0 + excess) * (1 + noise),
                            tape.gradient(excess, variable))
            return excess

        return min(float(step()) for _ in range(150))

    stalled, descending = smallest_excess(0.0), smallest_excess(1e-3)
    assert stalled > 1e-2  # stuck about the noise's size above the minimum
    assert descending < 1e-3 * stalled
