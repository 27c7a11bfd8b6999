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


def _moving_pictures(count=60, seed=0):
    """Pictures whose steps shrink: each moves 0.9x as far as the one before."""
    rng = np.random.default_rng(seed)
    picture, pictures = rng.uniform(0, 255, (1, 8, 6, 3)), []
    for step in range(count):
        picture = picture + 20 * 0.9 ** step * rng.choice([-1.0, 1.0], picture.shape)
        pictures.append(picture.copy())
    return pictures


def _reference_change_stop(pictures, change, window):
    """The first step count k, a multiple of `window` from 2 windows on, at which the mean
    absolute difference between pictures k and k - window (1-based) is under `change`."""
    for k in range(2 * window, len(pictures) + 1, window):
        if np.abs(pictures[k - 1] - pictures[k - 1 - window]).mean() < change:
            return k
    return None


def _first_change_stop(convergence, pictures):
    for index, picture in enumerate(pictures):
        convergence.update(1.0 / (index + 1), tf.constant(picture, tf.float32))
        if convergence.converged():
            return index + 1
    return None


@pytest.mark.parametrize("change, window", [(5.0, 5), (2.0, 10), (12.0, 4)])
def test_stops_once_the_picture_moves_less_than_the_change(change, window):
    pictures = _moving_pictures()
    expected = _reference_change_stop(pictures, change, window)
    assert expected is not None and 2 * window < expected < len(pictures)
    convergence = Convergence(0.0, window, change, pictures[0].shape)
    assert _first_change_stop(convergence, pictures) == expected
    assert "grey levels" in convergence.why()
    convergence.reset()  # a new scale judges afresh: two windows before the first stop
    assert not convergence.converged()
    assert _first_change_stop(convergence, pictures[expected:]) >= 2 * window


def test_either_rule_ends_the_scale_and_the_change_state_resumes(tmp_path):
    pictures = _moving_pictures()
    by_change = _reference_change_stop(pictures, 5.0, 5)
    losses = [1.0] * len(pictures)  # the loss rule alone stops at step 6
    both = Convergence(0.01, 5, 5.0, pictures[0].shape)
    for index, (loss, picture) in enumerate(zip(losses, pictures)):
        both.update(loss, tf.constant(picture, tf.float32))
        if both.converged():
            break
    assert index + 1 == 6 < by_change and "loss" in both.why()
    # Checkpointed mid-way (between two judgements), restored: the same stop.
    first = Convergence(0.0, 5, 5.0, pictures[0].shape)
    for picture in pictures[:by_change - 3]:
        first.update(1.0, tf.constant(picture, tf.float32))
    path = tf.train.Checkpoint(convergence=first).write(str(tmp_path / "ckpt"))
    resumed = Convergence(0.0, 5, 5.0, pictures[0].shape)
    tf.train.Checkpoint(convergence=resumed).read(path).assert_consumed()
    assert by_change - 3 + _first_change_stop(resumed, pictures[by_change - 3:]) == by_change
