"""The batch's one bar: pairs done, the pair in progress by its steps (and frame), ETA."""

import contextlib
import io
import logging as std_logging

import numpy as np
import pytest
from absl import logging

from fakes import FakeTransfer, report
from tf_style.callbacks import BatchProgressBar
from tf_style.callbacks import batch_progress_bar


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@contextlib.contextmanager
def _absl_lines(lines):
    """What absl logs in this block, a message a line."""
    class Collect(std_logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = Collect()
    logger = logging.get_absl_logger()
    logger.addHandler(handler)
    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.INFO)
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        logger.removeHandler(handler)


@pytest.fixture
def clock(monkeypatch):
    fake = _Clock()
    monkeypatch.setattr(batch_progress_bar.time, "monotonic", fake)
    return fake


def test_the_bar_counts_pairs_and_the_steps_of_the_pair_in_progress(clock):
    stream = _Terminal()
    bar = BatchProgressBar(pairs=4, stream=stream)
    transfer = FakeTransfer(np.zeros((2, 2, 3), np.float32))
    bar.start_pair("beach-waves", done=0)
    clock.now += 30
    bar.on_step_end(report(5, transfer, iters=10))
    line = stream.getvalue().split("\r")[-1]
    # Half of the first of four pairs: 1/8 of 24 cells; 30 s for half a pair, 3.5 pairs left.
    assert line.startswith("[###.....................] pair 1/4 beach-waves: step 5/10")
    assert "batch ETA 3:30" in line

    clock.now += 30
    bar.end_pair(ran=True)  # it took 60 s
    bar.start_pair("clip-waves", done=1, unit="frame")
    clock.now += 10
    bar.on_step_end(report(40, transfer, iters=80, scale_index=2))
    line = stream.getvalue().split("\r")[-1]
    # 1.5 of 4 pairs; the 2.5 pairs left at the 60 s a pair took.
    assert "pair 2/4 clip-waves: step 40/80 frame 3" in line and "batch ETA 2:30" in line
    assert line.startswith("[#########...............]")

    bar.clear()
    assert stream.getvalue().endswith("\r\033[K")


def test_skipped_pairs_advance_the_bar_but_not_the_time_per_pair(clock):
    bar = BatchProgressBar(pairs=3, stream=_Terminal())
    bar.start_pair("a", done=0)
    bar.end_pair(ran=False)  # finished before: no time
    assert bar.fraction() == pytest.approx(1 / 3)
    assert bar.eta_seconds() is None  # nothing measured yet


def test_off_a_terminal_it_logs_at_most_every_ten_seconds(clock):
    stream = io.StringIO()  # not a terminal: the bar goes to the log, never to the stream
    bar = BatchProgressBar(pairs=2, stream=stream)
    transfer = FakeTransfer(np.zeros((2, 2, 3), np.float32))
    bar.start_pair("a", done=0)
    lines = []
    with _absl_lines(lines):
        bar.on_step_end(report(1, transfer))
        clock.now += 5
        bar.on_step_end(report(2, transfer))
        clock.now += 6
        bar.on_step_end(report(3, transfer))
    assert len(lines) == 2
    assert "pair 1/2 a: step 1/" in lines[0] and "pair 1/2 a: step 3/" in lines[1]
    assert stream.getvalue() == ""
