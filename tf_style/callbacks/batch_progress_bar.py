"""One progress bar for a whole batch run in this process: pairs, steps and frames, and ETA."""

from __future__ import annotations

import sys
import time
from typing import List, Optional

from absl import logging

from tf_style.callbacks.callback import Callback, StepReport
from tf_style.durations import format_duration


class BatchProgressBar(Callback):
    """Redrawn in place on a terminal, logged every 10 s otherwise; the batch tells it when
    a pair starts and ends, the pair's run reports its steps (a video's: with its frame).

    The share done counts finished pairs, and the pair in progress by its steps out of its
    --iters (an upper bound: a run that converges ends sooner). The ETA is the mean time of
    the pairs that ran times the pairs left, and before any has ended, the time so far
    scaled by the share done.
    """

    def __init__(self, pairs: int, enabled: bool = True, stream=None, width: int = 24):
        self.pairs = pairs
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interactive = enabled and self.stream.isatty()
        self.width = width
        self.done = 0
        self.name = ""
        self.unit = ""
        self.pair_fraction = 0.0
        self.pair_started = time.monotonic()
        self.started = time.monotonic()
        self.ran_seconds: List[float] = []
        self.last_logged = 0.0
        self.last_line = ""

    def start_pair(self, name: str, done: int, unit: str = "") -> None:
        """Pair `name` starts with `done` pairs ended; `unit` "frame" for a video."""
        self.name, self.done, self.unit = name, done, unit
        self.pair_fraction = 0.0
        self.pair_started = time.monotonic()

    def end_pair(self, ran: bool) -> None:
        """The pair ended; `ran` when it did work here (not skipped, not failed at once)."""
        if ran:
            self.ran_seconds.append(time.monotonic() - self.pair_started)
        self.done += 1
        self.pair_fraction = 0.0

    def on_step_end(self, report: StepReport) -> None:
        if not self.enabled:
            return
        self.pair_fraction = min(1.0, report.step / max(1, report.iters))
        where = f" {self.unit} {report.scale_index + 1}" if self.unit else ""
        self.last_line = self.format(f"step {report.step}/{report.iters}{where}")
        if self.interactive:
            self.stream.write("\r" + self.last_line + "\033[K")
            self.stream.flush()
        elif time.monotonic() - self.last_logged >= 10:
            self.last_logged = time.monotonic()
            logging.info("%s", self.last_line)

    def fraction(self) -> float:
        return min(1.0, (self.done + self.pair_fraction) / self.pairs)

    def eta_seconds(self) -> Optional[float]:
        left = self.pairs - self.done - self.pair_fraction
        if self.ran_seconds:
            return max(0.0, left * sum(self.ran_seconds) / len(self.ran_seconds))
        fraction = self.pair_fraction
        if fraction <= 0:
            return None
        return (time.monotonic() - self.pair_started) / fraction * left  # each pair as this

    def format(self, detail: str) -> str:
        filled = min(self.width, int(self.width * self.fraction()))
        eta = self.eta_seconds()
        return (f"[{'#' * filled}{'.' * (self.width - filled)}] pair {self.done + 1}/{self.pairs} "
                f"{self.name}: {detail} | batch ETA "
                f"{'?' if eta is None else format_duration(eta)}")

    def clear(self) -> None:
        """Takes the bar off the terminal's line, so a log line can be written there."""
        if self.interactive and self.last_line:
            self.stream.write("\r\033[K")
            self.stream.flush()
