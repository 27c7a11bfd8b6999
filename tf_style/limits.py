"""What one run may ask of this machine, checked before anything is allocated.

The flags' own limits (steps, paintings, seed) are `TransferConfig`'s. The size is the
machine's: the picture's image-sized state (the image, its gradient, the optimizer's
state, the inputs) must fit in its memory whatever the tiles, or the run is refused
before the photo is resized to that size. The memory plan then checks the rest, after
loading, as before. The web server checks the same before it queues a run or a plan.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from tf_style import images, machine_memory, memory, schedule
from tf_style.config import TransferConfig
from tf_style.errors import TransferError

# Bytes per pixel the inputs take at least: each picture is kept as float32 RGB.
INPUT_BYTES_PER_PIXEL = 3 * 4


class SizeError(TransferError):
    """A --size whose image-sized state alone cannot fit in this machine's memory."""


def expected_shapes(config: TransferConfig) -> Optional[List[Tuple[int, int]]]:
    """(height, width) of each scale, from the photo's header (nothing decoded), or a
    texture's size; None when the header cannot be read (loading the photo then says why)."""
    found = config.texture_shape or images.header_size(config.content)
    if found is None:
        return None
    height, width = found
    shapes = []
    for size in schedule.scale_sizes(config):
        scaled_width, scaled_height = images.scaled_size(height, width, size)
        shapes.append((scaled_height, scaled_width))
    return shapes


def input_bytes(config: TransferConfig, shapes: Sequence[Tuple[int, int]]) -> float:
    """The least the photo and the paintings take at every scale of `shapes`: one float32
    copy of each (the paintings at --style_scale), as the inputs are kept for the run."""
    paintings = len(config.style) * config.style_scale ** 2
    return sum(INPUT_BYTES_PER_PIXEL * height * width * (1 + paintings)
               for height, width in shapes)


def check_size(config: TransferConfig, precision: str = "float32",
               limit_bytes: Optional[float] = None,
               model: Optional[memory.CostModel] = None) -> None:
    """Refuses, with one line saying the largest size that fits, a run whose finest scale's
    image-sized state exceeds the machine's memory (`limit_bytes`, default what this
    process may grow to). With the device's cost `model` (a CPU's), the size said is the
    memory plan's own, in the smallest tiles. Videos and unreadable photos are left to the
    loaders."""
    if config.is_video:
        return
    shapes = expected_shapes(config)
    if not shapes:
        return
    if limit_bytes is None:
        limit_bytes, _ = machine_memory.HostMemory().available()
    height, width = shapes[-1]
    # The coarser scales' inputs as a share of the finest's, for sizes said in advice.
    inputs_share = input_bytes(config, shapes) / input_bytes(config, shapes[-1:])
    needed = _state_bytes(config, height, width, precision, inputs_share)
    if memory.fits(needed, limit_bytes):
        return
    largest = _largest_fitting_side(config, height, width, precision, limit_bytes, inputs_share)
    if largest and model is not None:
        scaled_width, scaled_height = images.scaled_size(height, width, largest)
        largest = memory.largest_fitting_size(
            config, scaled_height, scaled_width,
            input_bytes(config, [(scaled_height, scaled_width)]) * inputs_share, limit_bytes,
            model, precision)
    flag = "--texture_size" if config.is_texture else "--size"
    advice = (f"about {largest} px on the longest side is the largest that fits"
              if largest and config.is_texture else
              f"about --size {largest} is the largest that fits" if largest else
              "not even the smallest size fits; free some memory")
    asked = config.texture_size if config.is_texture else config.size
    raise SizeError(
        f"{flag} {asked} makes the picture {width}x{height} px, whose image, gradient, "
        f"optimizer state and inputs alone need about "
        f"{needed * memory.ESTIMATE_ALLOWANCE / memory.GB:.3g} GB, more than the "
        f"{limit_bytes / memory.GB:.3g} GB this machine has free; {advice}")


def _state_bytes(config: TransferConfig, height: int, width: int, precision: str,
                 inputs_share: float) -> float:
    inputs = input_bytes(config, [(height, width)]) * inputs_share
    # The state alone, without TensorFlow's own memory: a bound that refuses what can never
    # fit and leaves the rest (a limit under TensorFlow's own size included) to the plan.
    return memory.state_bytes(config, height, width, inputs, memory.CPU_FLOAT32, precision)


def _largest_fitting_side(config: TransferConfig, height: int, width: int, precision: str,
                          limit_bytes: float, inputs_share: float) -> Optional[int]:
    """The largest longest side whose state fits (nothing is tiled)."""
    longest = max(height, width)

    def fits(side: int) -> bool:
        scaled_width, scaled_height = images.scaled_size(height, width, side)
        return memory.fits(_state_bytes(config, scaled_height, scaled_width, precision,
                                        inputs_share), limit_bytes)

    return memory.largest_side(fits, longest)
