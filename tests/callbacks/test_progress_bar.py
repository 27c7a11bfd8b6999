"""The progress bar: losses, speed without the tracing step, and ETA."""

import io

import numpy as np

from fakes import FakeTransfer, report
from tf_style.callbacks import ProgressBar


def test_progress_bar_shows_step_losses_speed_and_eta():
    bar = ProgressBar(iters=10, stream=io.StringIO())
    transfer = FakeTransfer(np.zeros((2, 2, 3), np.float32))
    bar.on_step_end(report(1, transfer, seconds=9.0))  # tracing: not representative
    bar.on_step_end(report(2, transfer, seconds=2.0))
    bar.on_step_end(report(3, transfer, seconds=4.0))
    line = bar.format(3, report(3, transfer).losses)
    assert "3/10" in line and "loss 12.5" in line and "style 0.0125" in line
    assert "3.00 s/step" in line and "ETA 0:21" in line  # 7 steps left at 3 s


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_the_line_is_redrawn_in_place_and_ended_at_the_close():
    stream = _Terminal()
    bar = ProgressBar(iters=4, stream=stream)
    transfer = FakeTransfer(np.zeros((2, 2, 3), np.float32))
    bar.on_step_end(report(1, transfer, iters=4))
    bar.on_step_end(report(2, transfer, iters=4))
    bar.on_run_end()
    text = stream.getvalue()
    assert text.count("\r") == 2 and "2/4" in text and text.endswith("\n")


def test_disabled_bar_writes_nothing():
    stream = _Terminal()
    bar = ProgressBar(iters=4, enabled=False, stream=stream)
    bar.on_step_end(report(1, FakeTransfer(np.zeros((2, 2, 3), np.float32)), iters=4))
    bar.on_run_end()
    assert stream.getvalue() == ""


def test_eta_counts_the_scales_to_come_at_the_speed_measured_on_this_one():
    # Two scales expected to take 10 steps each, the second 4x as costly a step.
    bar = ProgressBar(iters=100, stream=io.StringIO(), scales=[(10, 1.0), (10, 4.0)])
    transfer = FakeTransfer(np.zeros((2, 2, 3), np.float32))
    for step in (1, 2, 3):
        bar.on_step_end(report(step, transfer, iters=100, seconds=2.0))
    # 7 more steps here at 2 s, then 10 at 8 s.
    assert bar.eta_seconds() == 7 * 2.0 + 10 * 8.0
    bar.on_step_end(report(11, transfer, iters=100, seconds=9.0, scale_index=1, scale_step=1))
    bar.on_step_end(report(12, transfer, iters=100, seconds=8.0, scale_index=1, scale_step=2))
    assert bar.eta_seconds() == 8 * 8.0  # the first step of a scale (tracing) is dropped
    assert "scale 2/2" in bar.format(12, report(12, transfer).losses)


def test_inside_a_tiled_step_the_line_shows_the_tile_pass():
    stream = _Terminal()
    bar = ProgressBar(iters=4, stream=stream)
    transfer = FakeTransfer(np.zeros((2, 2, 3), np.float32))
    bar.on_step_end(report(1, transfer, iters=4))
    bar.on_tile_end(3, 8)
    assert stream.getvalue().rsplit("\r", 1)[-1].split("\033")[0].endswith("step 2: tile pass 3/8")
