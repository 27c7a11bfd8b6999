"""The memory plan of a run, as `memory.plan_run` makes it: per scale, whole image or tiles,
with the estimates; the steps each scale is expected to take, the time, and the text
--dry_run and the web page's Plan show."""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

from tf_style import schedule
from tf_style.config import TransferConfig
from tf_style.durations import format_duration

GB = 1e9
# Steps a scale takes to converge by the default rules, for the estimates only: the first
# (coarsest) scale from the photo, each finer one from the coarser result upsampled.
# Measured at 512 px (256, 512) with benchmarks/schedule.py on six pairs and both weight
# kinds: 100-140 steps at 256 px, 40-120 at 512 px (docs/convergence.md).
FIRST_SCALE_STEPS = 110
LATER_SCALE_STEPS = 80
# Seconds before the first step (TensorFlow, the network, the targets) and for each scale
# (its targets, tracing its step), measured the same way.
FIXED_SECONDS = 8.0
SCALE_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class ScalePlan:
    """One scale: its image size, whole image (tile_size None) or tiles, and the estimates.

    `peak_bytes` is in the device's memory; `host_bytes`, on a GPU with tiles, what the
    machine's memory keeps (None where that is the same memory). `seconds_per_step` is
    None where the device's speed was never measured."""

    height: int
    width: int
    tile_size: Optional[int]
    tiles: int
    peak_bytes: float
    seconds_per_step: Optional[float]
    host_bytes: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class Plan:
    """The scales of a run as they will run, and what they were planned for: the memory
    limit and its source, the device, the precision and where the model came from."""

    scales: Tuple[ScalePlan, ...]
    limit_bytes: float
    limit_source: str
    device: str = "CPU"
    precision: str = "float32"
    model_source: str = ""  # where the estimates' constants come from
    precision_note: Optional[str] = None  # what the precision means there, if more than its name
    network_note: Optional[str] = None  # the network, its weights and the defaults they bring

    @property
    def peak_bytes(self) -> float:
        return max(scale.peak_bytes for scale in self.scales)

    def tile_size_at(self, scale_index: int) -> Optional[int]:
        return self.scales[scale_index].tile_size

    def describe(self, config: TransferConfig) -> str:
        """The plan as --dry_run prints it."""
        lines = [*([self.network_note] if self.network_note else []),
                 f"device {self.device}", f"precision {self.precision_note or self.precision}",
                 f"memory limit {self.limit_bytes / GB:.1f} GB ({self.limit_source}); "
                 f"estimates {self.model_source}"]
        for index, (scale, end, steps, seconds) in enumerate(zip(
                self.scales, schedule.scale_ends(config), self.expected_steps(config),
                self.scale_seconds(config))):
            how = "whole image" if scale.tile_size is None else (
                f"{scale.tiles} tiles of {scale.tile_size} px")
            host = "" if scale.host_bytes is None else (
                f" (+{scale.host_bytes / GB:.1f} GB of image-sized state in the machine's memory)")
            speed = ("s/step not estimated" if seconds is None
                     else f"est. {scale.seconds_per_step:.3g} s/step, ~{steps} steps in "
                     f"{format_duration(seconds)}")
            lines.append(
                f"scale {index + 1}/{len(self.scales)}: {scale.width}x{scale.height} px, {how}, "
                f"est. peak {scale.peak_bytes / GB:.1f} GB{host}, {speed}, "
                f"until converged or step {end}")
        seconds = self.estimated_seconds(config)
        time = ("time not estimated (not measured on this device)" if seconds is None
                else f"est. time {format_duration(seconds)}")
        lines.append(f"est. peak memory {self.peak_bytes / GB:.1f} GB; {time}")
        return "\n".join(lines) + "\n"

    def expected_steps(self, config: TransferConfig) -> List[int]:
        """Steps each scale is expected to take: FIRST_SCALE_STEPS, then LATER_SCALE_STEPS
        when a rule may stop it sooner (capped by its budget); else its whole budget."""
        steps, start = [], 0
        for index, end in enumerate(schedule.scale_ends(config)):
            budget = end - start
            typical = FIRST_SCALE_STEPS if index == 0 else LATER_SCALE_STEPS
            steps.append(max(1, min(budget, typical) if config.stops_on_convergence else budget))
            start += steps[-1]
        return steps

    def scale_seconds(self, config: TransferConfig) -> List[Optional[float]]:
        """Each scale's expected time: its expected steps at its estimated speed, and
        tracing its step; None where the speed is unknown."""
        return [None if scale.seconds_per_step is None
                else steps * scale.seconds_per_step + SCALE_SECONDS
                for steps, scale in zip(self.expected_steps(config), self.scales)]

    def estimated_seconds(self, config: TransferConfig) -> Optional[float]:
        """Time to a finished picture at `expected_steps`; None where speed is unknown."""
        seconds = self.scale_seconds(config)
        return None if None in seconds else FIXED_SECONDS + sum(seconds)
