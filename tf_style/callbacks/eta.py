"""The time a run has left: measured seconds per step, scales still to come at their cost."""

from __future__ import annotations

import collections
from typing import Optional, Sequence, Tuple

from tf_style.callbacks.callback import Callback, StepReport


class Eta(Callback):
    """Seconds per step over the last 20 steps of this scale, and the run's time left.

    `scales` gives, per scale, the steps it is expected to take and its estimated cost of
    a step relative to the others (the memory plan's); the scales still to come count at
    the speed measured on this one, scaled by their cost.
    """

    def __init__(self, iters: int, scales: Optional[Sequence[Tuple[int, float]]] = None):
        self.scales = tuple(scales) if scales else ((iters, 1.0),)
        self.recent_seconds: collections.deque = collections.deque(maxlen=20)
        self.updates = 0
        self.scale_index = 0
        self.scale_steps = 0

    def on_step_end(self, report: StepReport) -> None:
        if report.scale_index != self.scale_index:  # a new scale: its own speed
            self.scale_index = report.scale_index
            self.recent_seconds.clear()
            self.updates = 0
        self.updates += 1
        self.scale_steps = report.scale_step
        if self.updates == 2:
            self.recent_seconds.clear()  # the first step included tracing the function
        self.recent_seconds.append(report.seconds_per_step)

    def measured(self) -> bool:
        """Whether a step after this scale's first (which included tracing) was timed."""
        return self.updates >= 2

    def average_seconds(self) -> float:
        """Seconds per step on this scale, recently."""
        return sum(self.recent_seconds) / max(1, len(self.recent_seconds))

    def seconds_left(self) -> float:
        """This scale's expected steps left at the measured speed, then the later scales'."""
        average = self.average_seconds()
        expected_steps, cost = self.current_scale()
        remaining = max(0, expected_steps - self.scale_steps) * average
        for later_steps, later_cost in self.scales[self.scale_index + 1:]:
            remaining += later_steps * average * later_cost / cost
        return remaining

    def fraction_done(self) -> float:
        """The share of the expected work done, the scales weighted by their cost."""
        expected_steps, cost = self.current_scale()
        done = sum(steps * step_cost for steps, step_cost in self.scales[:self.scale_index])
        total = sum(steps * step_cost for steps, step_cost in self.scales)
        return (done + min(self.scale_steps, expected_steps) * cost) / total

    def current_scale(self) -> Tuple[int, float]:
        """(expected steps, relative cost of a step) of the scale now running."""
        return self.scales[min(self.scale_index, len(self.scales) - 1)]
