"""The convergence rule against a brute-force reading of it, and its checkpointed state."""

import numpy as np
import pytest
import tensorflow as tf

from tf_style.convergence import Convergence


def _reference_stop(losses, tolerance, window):
    """The first step count k at which the lowest of losses[:k] fell by at most `tolerance`
    (relative) below the lowest of losses[:k - window], or None."""
    for k in range(window + 1, len(losses) + 1):
        now, then = min(losses[:k]), min(losses[:k - window])
        if then - now <= tolerance * then:
            return k
    return None


def _losses(seed, count=200):
    """A decaying loss with L-BFGS-like upward blips."""
    rng = np.random.default_rng(seed)
    steps = np.arange(count)
    losses = 10.0 * (1.0 + 20.0 / (steps + 5.0)) * (1.0 + 0.02 * rng.random(count))
    losses[rng.random(count) < 0.1] *= 1.5
    return [float(value) for value in losses]


def _first_stop(convergence, losses):
    for index, loss in enumerate(losses):
        convergence.update(loss)
        if convergence.converged():
            return index + 1
    return None


@pytest.mark.parametrize("seed, tolerance, window", [(0, 0.01, 10), (1, 0.01, 20), (2, 0.02, 3)])
def test_stops_where_the_rule_says(seed, tolerance, window):
    losses = _losses(seed)
    expected = _reference_stop(losses, tolerance, window)
    assert expected is not None and window < expected < len(losses)
    assert _first_stop(Convergence(tolerance, window), losses) == expected


def test_zero_tolerance_never_stops_and_reset_forgets():
    losses = [1.0] * 50  # no improvement at all
    assert _first_stop(Convergence(0.0, 5), losses) is None
    convergence = Convergence(0.01, 5)
    assert _first_stop(convergence, losses) == 6
    convergence.reset()
    assert not convergence.converged() and int(convergence.steps) == 0


def test_a_restored_state_stops_at_the_same_step(tmp_path):
    losses = _losses(3)
    expected = _first_stop(Convergence(0.01, 10), losses)
    first = Convergence(0.01, 10)
    for loss in losses[:expected - 4]:
        first.update(loss)
    path = tf.train.Checkpoint(convergence=first).write(str(tmp_path / "ckpt"))
    resumed = Convergence(0.01, 10)
    tf.train.Checkpoint(convergence=resumed).read(path).assert_consumed()
    assert expected - 4 + _first_stop(resumed, losses[expected - 4:]) == expected
