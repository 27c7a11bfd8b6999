"""How much memory a run needs, what this machine allows, and whole image or tiles.

The model of a step's peak resident memory (bytes):

    BASE + PER_IMAGE_PIXEL * H*W + PER_NETWORK_PIXEL * (pixels VGG19 sees at once)
         + the optimizer's state + the content targets + the input arrays

The last three are counted exactly from the settings and the loaded images; the three
constants are fitted to peak RSS measured on runs from 256 to 2048 px, whole and tiled
(`python benchmarks/memory.py`, which prints the prediction beside the measurement).
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np

from tf_style import tiling
from tf_style.config import MIN_IMAGE_SIDE, TransferConfig
from tf_style.errors import TransferError

GB = 1e9

# Fitted by `python benchmarks/memory.py --fit` on the 2-core, 24 GB reference machine.
BASE_BYTES = 0.867e9  # TensorFlow, VGG19's weights, the interpreter
PER_IMAGE_PIXEL_BYTES = 186.7  # the image, its gradient, the step's image-sized temporaries
PER_NETWORK_PIXEL_BYTES = 1777.3  # VGG19's activations and their gradients, per input pixel

# A plan fits when the estimate times this is under the limit: out of the fit, the model
# under-predicted a whole 3840x2160 step by 14% and 7680x4320 in tiles by 9%.
ESTIMATE_ALLOWANCE = 1.15
# Below this a tile's halo (80 + 96 px at block5_conv1) costs more than its inside.
MIN_TILE_SIZE = 128
# What --memory_limit leaves for everything else on the machine by default.
DEFAULT_MARGIN = 0.10

_CHANNELS_BY_BLOCK = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


@dataclasses.dataclass(frozen=True)
class ScalePlan:
    """One scale: its image size, whole image (tile_size None) or tiles, and the estimate."""

    height: int
    width: int
    tile_size: Optional[int]
    tiles: int
    peak_bytes: float
    seconds_per_step: float


@dataclasses.dataclass(frozen=True)
class Plan:
    """The scales of a run as they will run, and the memory limit they were planned under."""

    scales: Tuple[ScalePlan, ...]
    limit_bytes: float
    limit_source: str

    @property
    def peak_bytes(self) -> float:
        return max(scale.peak_bytes for scale in self.scales)

    def tile_size_at(self, scale_index: int) -> Optional[int]:
        return self.scales[scale_index].tile_size

    def describe(self, config: TransferConfig) -> str:
        """The plan as --dry_run prints it."""
        lines = [f"memory limit {self.limit_bytes / GB:.1f} GB ({self.limit_source})"]
        for index, (scale, end) in enumerate(zip(self.scales, config.scale_ends)):
            how = "whole image" if scale.tile_size is None else (
                f"{scale.tiles} tiles of {scale.tile_size} px")
            lines.append(
                f"scale {index + 1}/{len(self.scales)}: {scale.width}x{scale.height} px, {how}, "
                f"est. peak {scale.peak_bytes / GB:.1f} GB, est. {scale.seconds_per_step:.1f} s/step, "
                f"until converged or step {end}")
        lines.append(f"est. peak memory {self.peak_bytes / GB:.1f} GB; est. time "
                     f"{_duration(self.estimated_seconds(config))} (2-core reference machine)")
        return "\n".join(lines) + "\n"

    def expected_steps(self, config: TransferConfig) -> List[int]:
        """Steps each scale is expected to take when it stops on convergence: FIRST_SCALE_STEPS,
        then half as many at each finer scale (capped by what it may use); else its share."""
        steps, start, typical = [], 0, FIRST_SCALE_STEPS
        for end in config.scale_ends:
            expected = typical if config.convergence_tolerance > 0 else end - start
            steps.append(max(1, min(end - start, expected)))
            start += steps[-1]
            typical = max(config.convergence_window + 1, typical // 2)
        return steps

    def estimated_seconds(self, config: TransferConfig) -> float:
        """Time to a finished picture on the reference machine, at `expected_steps`."""
        return sum(steps * scale.seconds_per_step
                   for steps, scale in zip(self.expected_steps(config), self.scales))


# Steps the first scale took to converge with the default tolerance, at 512 px alone and
# at 480 px under 3840 px; each finer scale started from the coarser result took about
# half as many as the one before (181, 141, 69, 35 at 3840x2160). Only estimates use it.
FIRST_SCALE_STEPS = 200
# Seconds per step: a fixed part and a part per pixel the network sees (forward and
# backward), and the tiled step's extra forward pass as a share of that (measured).
SECONDS_PER_STEP = 0.084
SECONDS_PER_NETWORK_PIXEL = 3.59e-6
TILED_PASS_COST = 1.357


def available_bytes() -> Tuple[float, str]:
    """What this process may grow to: free memory (cgroup or machine, the smaller) plus what
    it holds already, less DEFAULT_MARGIN; and where that number came from."""
    candidates = []
    meminfo = _read_meminfo()
    if "MemAvailable" in meminfo:
        candidates.append((meminfo["MemAvailable"], "available memory"))
    cgroup = _cgroup_free_bytes()
    if cgroup is not None:
        candidates.append((cgroup, "cgroup limit"))
    if not candidates:
        return 8 * GB, "a guess: no /proc/meminfo or cgroup limit found"
    free, source = min(candidates)
    return (free + _resident_bytes()) * (1 - DEFAULT_MARGIN), f"{source} less {DEFAULT_MARGIN:.0%}"


def _read_meminfo() -> dict:
    try:
        with open("/proc/meminfo") as file:
            return {line.split(":")[0]: int(line.split()[1]) * 1024 for line in file}
    except (OSError, ValueError, IndexError):
        return {}


def _read_number(path: str) -> Optional[int]:
    try:
        with open(path) as file:
            text = file.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_free_bytes() -> Optional[float]:
    """The cgroup's limit less its usage (v2, then v1), or None without a limit."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_number(limit_file), _read_number(usage_file)
        if limit is not None and usage is not None and limit < 2 ** 60:
            return float(limit - usage)
    return None


def _resident_bytes() -> float:
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0.0


def optimizer_bytes(config: TransferConfig, pixels: int) -> float:
    """The optimizer's image-sized state: L-BFGS's history (16-bit) and three float32
    buffers; Adam's two moments; RMSprop's one."""
    values = 3 * pixels
    if config.optimizer == "lbfgs":
        return 2 * config.lbfgs_history * values * 2 + 3 * values * 4
    return (2 if config.optimizer == "adam" else 1) * values * 4


def content_target_bytes(config: TransferConfig, height: int, width: int) -> float:
    """The content layers' feature maps kept as targets (float32)."""
    total = 0.0
    for name in config.content_layers:
        rows, columns = tiling.layer_shape(height, width, name)
        total += rows * columns * _CHANNELS_BY_BLOCK[int(name[5])] * 4
    return total


def crop_areas(config: TransferConfig, height: int, width: int,
               tile_size: Optional[int]) -> List[int]:
    """The pixels VGG19 sees in each pass of a step: the image, or each tile with its halo."""
    if tile_size is None:
        return [height * width]
    halo = tiling.halo_for(config.content_layers + config.style_layers)
    return [(tile.crop[1] - tile.crop[0]) * (tile.crop[3] - tile.crop[2])
            for tile in tiling.plan_tiles(height, width, tile_size, halo)]


def network_pixels(config: TransferConfig, height: int, width: int,
                   tile_size: Optional[int]) -> int:
    """Pixels VGG19 sees at once: the whole image, or the largest tile with its halo."""
    return max(crop_areas(config, height, width, tile_size))


def peak_bytes(config: TransferConfig, height: int, width: int, tile_size: Optional[int],
               input_bytes: float) -> float:
    """The model's peak resident memory of a step at (height, width)."""
    pixels = height * width
    return (BASE_BYTES + PER_IMAGE_PIXEL_BYTES * pixels
            + PER_NETWORK_PIXEL_BYTES * network_pixels(config, height, width, tile_size)
            + optimizer_bytes(config, pixels) + content_target_bytes(config, height, width)
            + input_bytes)


def network_pixels_per_step(config: TransferConfig, height: int, width: int,
                            tile_size: Optional[int]) -> int:
    """Pixels VGG19 runs over in one step: the image, or every tile with its halo."""
    return sum(crop_areas(config, height, width, tile_size))


def seconds_per_step(config: TransferConfig, height: int, width: int,
                     tile_size: Optional[int]) -> float:
    """The model's seconds per step on the reference machine."""
    seen = network_pixels_per_step(config, height, width, tile_size)
    cost = SECONDS_PER_NETWORK_PIXEL * (1.0 if tile_size is None else TILED_PASS_COST)
    return SECONDS_PER_STEP + cost * seen


def tile_candidates(height: int, width: int) -> List[int]:
    """Tile sizes to try, largest first: the longest side split into 2, 3, 4, ... equal
    parts, rounded up to multiples of 16, down to MIN_TILE_SIZE."""
    longest = max(height, width)
    sizes = []
    parts = 2
    while True:
        size = tiling.ALIGNMENT * math.ceil(longest / parts / tiling.ALIGNMENT)
        if size < MIN_TILE_SIZE:
            break
        if not sizes or size < sizes[-1]:
            sizes.append(size)
        parts += 1
    return sizes or [MIN_TILE_SIZE]


def plan_run(config: TransferConfig, shapes: Sequence[Tuple[int, int]], input_bytes: float,
             limit_bytes: Optional[float] = None) -> Plan:
    """Whole image or tiles for each scale of `shapes` ((height, width), coarse to fine).

    `config.tile_size` is used as given; otherwise each scale runs whole when it fits
    under the limit (`config.memory_limit`, or `available_bytes()`), else in the largest
    tiles that do, with ESTIMATE_ALLOWANCE to spare. Raises MemoryPlanError when not even
    the smallest tiles fit.
    """
    if limit_bytes is None:
        if config.memory_limit is not None:
            limit_bytes, source = config.memory_limit * GB, "--memory_limit"
        else:
            limit_bytes, source = available_bytes()
    else:
        source = "given"
    scales = []
    for height, width in shapes:
        if config.tile_size is not None:
            choices = [config.tile_size]
        else:
            choices = [None] + tile_candidates(height, width)
        estimates = [(tile, peak_bytes(config, height, width, tile, input_bytes)) for tile in choices]
        fitting = [(tile, estimate) for tile, estimate in estimates if _fits(estimate, limit_bytes)]
        tile_size, estimate = fitting[0] if fitting else estimates[-1]
        if not fitting and config.tile_size is None:
            raise MemoryPlanError(config, height, width, estimate, tile_size, limit_bytes,
                                  largest_fitting_size(config, height, width, input_bytes, limit_bytes))
        tiles = len(crop_areas(config, height, width, tile_size))
        scales.append(ScalePlan(height, width, tile_size, tiles, estimate,
                                seconds_per_step(config, height, width, tile_size)))
    return Plan(tuple(scales), limit_bytes, source)


def _fits(estimate: float, limit_bytes: float) -> bool:
    return estimate * ESTIMATE_ALLOWANCE <= limit_bytes


def largest_fitting_size(config: TransferConfig, height: int, width: int, input_bytes: float,
                         limit_bytes: float) -> Optional[int]:
    """The largest --size (longest side) whose finest scale fits the limit in the smallest tiles."""
    longest = max(height, width)

    def fits(side: int) -> bool:
        ratio = side / longest
        scaled_height, scaled_width = max(1, round(height * ratio)), max(1, round(width * ratio))
        tile = min(tile_candidates(scaled_height, scaled_width))
        return _fits(peak_bytes(config, scaled_height, scaled_width, tile, input_bytes * ratio ** 2),
                     limit_bytes)

    low, high = MIN_IMAGE_SIDE, longest
    if not fits(low):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


class MemoryPlanError(TransferError):
    """No way to run a scale within the memory limit; says the largest size that would fit."""

    def __init__(self, config: TransferConfig, height: int, width: int, estimate: float,
                 tile_size: int, limit_bytes: float, largest: Optional[int]):
        advice = (f"--size {largest} fits" if largest
                  else "not even the smallest size fits; free some memory")
        super().__init__(
            f"{width}x{height} px needs about {estimate * ESTIMATE_ALLOWANCE / GB:.3g} GB even in "
            f"{tile_size} px tiles ({ESTIMATE_ALLOWANCE - 1:.0%} to spare included), more than the "
            f"{limit_bytes / GB:.3g} GB memory limit; {advice} (or raise "
            f"--memory_limit)")


def array_bytes(arrays: Sequence[Optional[np.ndarray]]) -> float:
    """The bytes of distinct arrays (the same array counted once)."""
    seen = {}
    for array in arrays:
        if array is not None:
            seen[id(array)] = array.nbytes
    return float(sum(seen.values()))


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes >= 1 else f"{seconds:.0f} s"
