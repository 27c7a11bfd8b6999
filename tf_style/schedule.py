"""The schedule of a picture's steps: the sizes it is optimised at, coarse to fine, and the
step by which each scale ends."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Tuple

from tf_style.architecture import MIN_IMAGE_SIDE

if TYPE_CHECKING:
    from tf_style.config import TransferConfig

# The default coarse-to-fine pyramid halves --size while the result stays at least this
# big: 512 -> 256, 512; 1024 -> 256, 512, 1024; 3840 -> 480, ..., 3840. A step at half
# the size costs a quarter: the coarse scale lays the picture out, the full-size scale
# sharpens it. Not from 128 px: at 512 px that painted over the photo (Laplacian content
# score 0.43 against 0.65 alone) where from 256 px it kept it (0.63) (docs/convergence.md).
PYRAMID_SMALLEST_SIDE = 256
# A texture has no photo to keep, and from noise at full size it kept the noise's grain:
# at 256x192 on ImageNet VGG16 its patches were 2.1-2.7x further from the painting than a
# style transfer's. Laid out at 64 px first they were nearer than the transfer's; from
# 128 px, grain was left in flat areas (docs/artistic-controls.md).
TEXTURE_SMALLEST_SIDE = 64


def scale_sizes(config: "TransferConfig") -> Tuple[int, ...]:
    """Longest sides optimised at, coarse to fine; the last is always `size`.

    `scales` is either those sizes or, as a single number under MIN_IMAGE_SIDE, a count
    of octaves: 3 means size/4, size/2, size. None: halve `size` while the result is
    at least PYRAMID_SMALLEST_SIDE (TEXTURE_SMALLEST_SIDE for a texture). A video's frames
    run at `size` only (each later frame starts from the one before), whatever `scales` says.
    """
    if config.is_video:
        return (config.size,)
    if config.scales is None:
        smallest, aspect = PYRAMID_SMALLEST_SIDE, 1.0
        if config.is_texture:  # whose shorter side must stay one VGG can see
            smallest, aspect = TEXTURE_SMALLEST_SIDE, min(config.texture_shape) / config.size
        octaves = 1
        while (config.size / 2 ** octaves >= smallest
               and config.size / 2 ** octaves * aspect >= MIN_IMAGE_SIDE):
            octaves += 1
        return tuple(round(config.size / 2 ** octave) for octave in reversed(range(octaves)))
    if not config.scales:
        return (config.size,)
    if len(config.scales) == 1 and config.scales[0] < MIN_IMAGE_SIDE:
        return tuple(round(config.size / 2 ** octave) for octave in reversed(range(config.scales[0])))
    return tuple(config.scales) if config.scales[-1] == config.size else (*config.scales, config.size)


def scale_ends(config: "TransferConfig") -> Tuple[int, ...]:
    """The global step by which each scale ends at the latest: `iters` split evenly across
    the scales (any remainder going to the finest).

    Each scale's budget is its own: a scale that converges sooner ends there, and the next
    one starts at once and may use what it left, so the finest scale, the one the user
    sees, always has at least its share.
    """
    count = len(scale_sizes(config))
    base, remainder = divmod(config.iters, count)
    return tuple(itertools.accumulate(
        base + (1 if index >= count - remainder else 0) for index in range(count)))


def uses_coarse_style_ratio(config: "TransferConfig") -> bool:
    """Whether `coarse_style_ratio` changes the run: it has coarser scales and a photo to
    lay out (a texture has none)."""
    return len(scale_sizes(config)) > 1 and not config.is_texture


def scale_style_weight(config: "TransferConfig", index: int) -> float:
    """The style weight of scale `index`: the scales before the last take
    `coarse_style_ratio` of it, where `uses_coarse_style_ratio`."""
    coarse = index < len(scale_sizes(config)) - 1 and uses_coarse_style_ratio(config)
    return config.resolved_style_weight * (config.coarse_style_ratio if coarse else 1.0)


def check_scales(config: "TransferConfig") -> None:
    """Refuses --scales that are not coarse to fine up to --size, or leave a scale no step."""
    scales = config.scales or ()
    if len(scales) == 1 and scales[0] < MIN_IMAGE_SIDE:
        smallest = scale_sizes(config)[0]
        if smallest < MIN_IMAGE_SIDE:
            raise ValueError(
                f"`scales` asks for {scales[0]} octaves up to --size {config.size}; the smallest "
                f"would be {smallest} px, under the {MIN_IMAGE_SIDE} px VGG19 needs. "
                f"Received: scales={scales[0]}")
    elif scales:
        if any(value < MIN_IMAGE_SIDE for value in scales):
            raise ValueError(f"`scales` sizes must be at least {MIN_IMAGE_SIDE} px (or give one "
                             f"number of octaves). Received: scales={_joined(scales)}")
        if list(scales) != sorted(set(scales)) or scales[-1] > config.size:
            raise ValueError(f"`scales` must rise from coarse to fine and end at most at --size "
                             f"{config.size}. Received: scales={_joined(scales)}")
    if config.iters < len(scale_sizes(config)):
        raise ValueError(f"`iters` must give each of the {len(scale_sizes(config))} scales a step. "
                         f"Received: iters={config.iters}")


def _joined(values) -> str:
    return ",".join(str(value) for value in values)
