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
