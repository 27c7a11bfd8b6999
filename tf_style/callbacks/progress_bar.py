"""The progress bar: step, scale, losses, seconds per step, tiles within a step and ETA."""

from __future__ import annotations

import sys
import time
from typing import Optional, Sequence, Tuple

from absl import logging

from tf_style.callbacks.callback import Callback, StepReport
from tf_style.callbacks.eta import Eta
from tf_style.durations import format_duration


class ProgressBar(Callback):
    """Redrawn in place on a terminal; logged every 10 s (and at the end) otherwise.

    `scales` gives, per scale, the steps it is expected to take and its estimated cost of
    a step relative to the others (the memory plan's); the ETA (`Eta`) counts the scales
    still to come at the speed measured on this one. Inside a tiled step it shows the tile
    count.
    """

    def __init__(self, iters: int, enabled: bool = True, stream=None,
                 scales: Optional[Sequence[Tuple[int, float]]] = None, unit: str = "scale"):
        self.iters = iters
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interactive = enabled and self.stream.isatty()
        self.eta = Eta(iters, scales)
        self.unit = unit
        self.last_logged = 0.0
        self.last_line = ""
        self.last_step = 0

    def on_step_end(self, report: StepReport) -> None:
        if not self.enabled:
            return
        self.eta.on_step_end(report)
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
        return self.eta.seconds_left()

    def average_seconds(self) -> float:
        return self.eta.average_seconds()

    def format(self, step: int, step_losses) -> str:
        width = 24
        # Filled by the share of the expected work done, the scales weighted by their cost.
        filled = min(width, int(width * self.eta.fraction_done()))
        scale_count = len(self.eta.scales)
        where = (f" {self.unit} {self.eta.scale_index + 1}/{scale_count}"
                 if scale_count > 1 else "")
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
