"""The progress bar: step, scale, losses, seconds per step, tiles within a step and ETA."""

from __future__ import annotations

import collections
import sys
import time
from typing import Optional, Sequence, Tuple

from absl import logging

from tf_style.callbacks.callback import Callback, StepReport
from tf_style.durations import format_duration


class ProgressBar(Callback):
    """Redrawn in place on a terminal; logged every 10 s (and at the end) otherwise.

    `scales` gives, per scale, the steps it is expected to take and its estimated cost of
    a step relative to the others (the memory plan's); the ETA counts the scales still to
    come at the speed measured on this one. Inside a tiled step it shows the tile count.
    """

    def __init__(self, iters: int, enabled: bool = True, stream=None,
                 scales: Optional[Sequence[Tuple[int, float]]] = None, unit: str = "scale"):
        self.iters = iters
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interactive = enabled and self.stream.isatty()
        self.scales = tuple(scales) if scales else ((iters, 1.0),)
        self.unit = unit
        self.recent_seconds: collections.deque = collections.deque(maxlen=20)
        self.updates = 0
        self.last_logged = 0.0
        self.scale_index = 0
        self.scale_steps = 0
        self.last_line = ""
        self.last_step = 0

    def on_step_end(self, report: StepReport) -> None:
        if not self.enabled:
            return
        if report.scale_index != self.scale_index:  # a new scale: its own speed
            self.scale_index = report.scale_index
            self.recent_seconds.clear()
            self.updates = 0
        self.updates += 1
        self.scale_steps = report.scale_step
        if self.updates == 2:
            self.recent_seconds.clear()  # the first step included tracing the function
        self.recent_seconds.append(report.seconds_per_step)
        self.last_step = report.step
        self.last_line = self.format(report.step, report.losses)
        self._show(self.last_line, final=report.step == self.iters)

    def on_tile_end(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        self._show(f"{self.last_line} | step {self.last_step + 1}: tile pass {done}/{total}")

    def _show(self, line: str, final: bool = False) -> None:
        if self.interactive:
            self.stream.write("\r" + line + "\033[K")
            self.stream.flush()
        elif time.monotonic() - self.last_logged >= 10 or final:
            self.last_logged = time.monotonic()
            logging.info("%s", line)

    def eta_seconds(self) -> float:
        """This scale's expected steps left at the measured speed, then the later scales'."""
        average = self.average_seconds()
        expected_steps, cost = self._current_scale()
        remaining = max(0, expected_steps - self.scale_steps) * average
        for later_steps, later_cost in self.scales[self.scale_index + 1:]:
            remaining += later_steps * average * later_cost / cost
        return remaining

    def _current_scale(self) -> Tuple[int, float]:
        return self.scales[min(self.scale_index, len(self.scales) - 1)]

    def average_seconds(self) -> float:
        return sum(self.recent_seconds) / max(1, len(self.recent_seconds))

    def format(self, step: int, step_losses) -> str:
        width = 24
        # Filled by the share of the expected work done, the scales weighted by their cost.
        expected_steps, cost = self._current_scale()
        done = sum(steps * step_cost for steps, step_cost in self.scales[:self.scale_index])
        total = sum(steps * step_cost for steps, step_cost in self.scales)
        fraction = (done + min(self.scale_steps, expected_steps) * cost) / total
        filled = min(width, int(width * fraction))
        where = (f" {self.unit} {self.scale_index + 1}/{len(self.scales)}"
                 if len(self.scales) > 1 else "")
        # The objective's terms, as the step reports them; their parts (style/<layer>) not.
        terms = ", ".join(f"{name} {value:.3g}" for name, value in step_losses.items()
                          if name != "total" and "/" not in name)
        return (f"[{'#' * filled}{'.' * (width - filled)}] {step}/{self.iters}{where} "
                f"loss {step_losses['total']:.4g} ({terms}) "
                f"{self.average_seconds():.2f} s/step ETA {format_duration(self.eta_seconds())}")

    def on_run_end(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
