"""VGG's geometry, the one table the network, the tiles' halos and the memory model are
derived from: each block's filters and convolutions, and the layers' names and order."""

from __future__ import annotations

from typing import Tuple

# (filters, convolutions) of each of VGG's five blocks: configurations D (VGG16) and E
# (VGG19) of Simonyan & Zisserman (2015). A 2x2 pool sits between blocks.
MODEL_BLOCKS = {
    "vgg19": ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4)),
    "vgg16": ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)),
}
MODELS: Tuple[str, ...] = tuple(MODEL_BLOCKS)
# VGG halves the image four times before block5; below this the deep layers vanish.
MIN_IMAGE_SIDE = 32


def conv_layer_names(model: str) -> Tuple[str, ...]:
    """A model's conv layers in network order, named as `keras.applications` names them."""
    if model not in MODEL_BLOCKS:
        raise ValueError(f"`model` must be one of {MODELS}. Received: model={model!r}")
    return tuple(f"block{block}_conv{index}"
                 for block, (_, convolutions) in enumerate(MODEL_BLOCKS[model], start=1)
                 for index in range(1, convolutions + 1))


# The 16 conv layers of VGG19, named as `keras.applications.VGG19` names them.
VGG19_CONV_LAYER_NAMES: Tuple[str, ...] = conv_layer_names("vgg19")


def layer_block(name: str) -> int:
    """The VGG block (1-5) of a conv layer: block3_conv1 -> 3."""
    return int(name[len("block")])


def layer_position(name: str) -> Tuple[int, int]:
    """(block, conv) of a conv layer, which orders layers the same way in every model."""
    return layer_block(name), int(name[name.index("_conv") + len("_conv"):])


def layer_channels(name: str) -> int:
    """Channels of a conv layer's output (the same block by block in VGG16 and VGG19)."""
    return MODEL_BLOCKS["vgg19"][layer_block(name) - 1][0]
