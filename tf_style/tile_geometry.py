"""Where the tiles of a tiled step lie: their inner parts, the halos that cover the deepest
layer's receptive field, and each conv layer's feature-map size. No TensorFlow, so the
memory plan can use it (`tf_style.tiling` computes the tiled step itself)."""

from __future__ import annotations

import dataclasses
import math
from typing import List, Sequence, Tuple

from tf_style.architecture import conv_layer_names, layer_block, layer_position

# Every pool halves the image: tiles start on multiples of this so pooling lines up.
ALIGNMENT = 16


def layer_factor(name: str) -> int:
    """How many image pixels one feature position of a conv layer spans: 1, 2, 4, 8 or 16."""
    return 2 ** (layer_block(name) - 1)


def halo_sides(layer_names: Sequence[str], model: str = "vgg19") -> Tuple[int, int]:
    """Pixels each inner feature of the deepest layer sees before and after its own block.

    A 3x3 conv at stride j widens the view by j on both sides; a 2x2 pool at stride j
    widens it by j after only. block5_conv1: 70 before, 85 after in VGG19; 58 and 73 in
    VGG16, which has one conv fewer in blocks 3 and 4.
    """
    names = conv_layer_names(model)
    deepest = max(layer_names, key=layer_position)
    before = after = 0
    block = 1
    for name in names[:names.index(deepest) + 1]:
        name_block = layer_block(name)
        while block < name_block:  # the pool between blocks
            after += layer_factor(f"block{block}_conv1")
            block += 1
        before += layer_factor(name)
        after += layer_factor(name)
    return before, after


def halo_for(layer_names: Sequence[str], model: str = "vgg19") -> Tuple[int, int]:
    """`halo_sides` rounded up to multiples of ALIGNMENT (block5_conv1 in VGG19: 80 before,
    96 after)."""
    return tuple(ALIGNMENT * math.ceil(side / ALIGNMENT)
                 for side in halo_sides(layer_names, model))


@dataclasses.dataclass(frozen=True)
class Tile:
    """A tile: `inner` is the part of the image it answers for, `crop` what the network sees,
    both (top, bottom, left, right) in image pixels."""

    inner: Tuple[int, int, int, int]
    crop: Tuple[int, int, int, int]


def tiles_covering(height: int, width: int, tile_size: int, halo: Tuple[int, int],
                   wrap: Tuple[bool, bool] = (False, False)) -> List[Tile]:
    """Tiles of at most `tile_size` (a multiple of ALIGNMENT) covering the image, with halos.

    At the image's edge a halo stops, except on an axis that wraps around (`wrap`: rows,
    columns; a seamless picture): there it runs on past the edge (a crop may start below 0
    or end beyond the side), and the crop takes those pixels from the opposite edge."""
    if tile_size % ALIGNMENT:
        raise ValueError(f"`tile_size` must be a multiple of {ALIGNMENT}. Received: {tile_size}")
    before, after = halo

    def crop_span(start: int, end: int, side: int, wraps: bool) -> Tuple[int, int]:
        if wraps:
            return start - before, end + after
        return max(0, start - before), min(side, end + after)

    tiles = []
    for top in range(0, height, tile_size):
        bottom = min(height, top + tile_size)
        for left in range(0, width, tile_size):
            right = min(width, left + tile_size)
            crop = (*crop_span(top, bottom, height, wrap[0]),
                    *crop_span(left, right, width, wrap[1]))
            tiles.append(Tile((top, bottom, left, right), crop))
    return tiles


def layer_shape(height: int, width: int, name: str) -> Tuple[int, int]:
    """A conv layer's feature-map size for an image: each pool halves, rounding down."""
    factor = layer_factor(name)
    return height // factor, width // factor
