"""The progress bar: step/iters, losses, seconds per step and ETA."""

from __future__ import annotations

import collections
import sys
import time

from absl import logging

from tf_style.callbacks.callback import Callback, StepReport


class ProgressBar(Callback):
    """Redrawn in place on a terminal; logged every 10 s (and at the end) otherwise."""

    def __init__(self, iters: int, enabled: bool = True, stream=None):
        self.iters = iters
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interactive = enabled and self.stream.isatty()
        self.recent_seconds: collections.deque = collections.deque(maxlen=20)
        self.updates = 0
        self.last_logged = 0.0

    def on_step_end(self, report: StepReport) -> None:
        if not self.enabled:
            return
        self.updates += 1
        if self.updates == 2:
            self.recent_seconds.clear()  # the first step included tracing the function
        self.recent_seconds.append(report.seconds_per_step)
        line = self.format(report.step, report.losses)
        if self.interactive:
            self.stream.write("\r" + line + "\033[K")
            self.stream.flush()
        elif time.monotonic() - self.last_logged >= 10 or report.step == self.iters:
            self.last_logged = time.monotonic()
            logging.info("%s", line)

    def format(self, step: int, step_losses) -> str:
        width = 24
        filled = int(width * step / self.iters)
        average_seconds = sum(self.recent_seconds) / max(1, len(self.recent_seconds))
        eta = (self.iters - step) * average_seconds
        return (f"[{'#' * filled}{'.' * (width - filled)}] {step}/{self.iters} "
                f"loss {step_losses['total']:.4g} (content {step_losses['content']:.3g}, "
                f"style {step_losses['style']:.3g}, tv {step_losses['tv']:.3g}) "
                f"{average_seconds:.2f} s/step ETA {format_duration(eta)}")

    def on_run_end(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def format_duration(seconds: float) -> str:
    """h:mm:ss, or m:ss under an hour."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
