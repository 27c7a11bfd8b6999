"""VGG19's or VGG16's convolutional part as a Keras functional model that returns named
conv outputs.

Built layer by layer from the table of blocks (`tf_style.architecture.MODEL_BLOCKS`) with the
names `keras.applications.VGG19` and `VGG16` use, so the official weight files load by
name. Gatys et al. replace max pooling with average pooling
("improves the gradient flow and one obtains slightly more appealing results"), so
`pooling="avg"` is the default; `pooling="max"` reproduces the ImageNet classifier.
"""

from __future__ import annotations

from typing import Iterable, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tf_style.config import POOLINGS
from tf_style.architecture import MODEL_BLOCKS, conv_layer_names, layer_position

# Caffe's ImageNet mean, in BGR order: the Keras weight file expects BGR inputs in
# 0-255 units with this mean subtracted (`keras.applications.vgg19.preprocess_input`).
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)

# Keras dtype policies: weights stay float32, the layers compute in the named precision.
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# The first conv computes in float32 whatever the precision: bfloat16 holds a pixel in
# 0-255 only to 0.5-1 grey level, so the network would not see the optimizer's small steps
# (at 128 px, bfloat16 gradient error 2.1% -> 1.5% against float32), and the layer has 3
# input channels: 0.5% of the network's FLOPs; the 512 px step measured no slower. Its
# ReLU runs after the cast to the network's precision (the same numbers: rounding keeps
# signs), so the backward pass keeps that, not a float32 copy of the largest activation.
_FULL_PRECISION_CONV = "block1_conv1"


# Whether an axis wraps around: (rows, columns). NO_WRAP is the paper's zero padding.
NO_WRAP = (False, False)


def _along(tensor: tf.Tensor, axis: int, start: int | None, stop: int | None) -> tf.Tensor:
    return tensor[(slice(None),) * axis + (slice(start, stop),)]


def wrap_pad(inputs: tf.Tensor, axis: int) -> tf.Tensor:
    """`inputs` with its last slice along `axis` put before its first and its first after its
    last, with a backward pass of one copy. (Taken with gathers, the backward pass made two
    dense full-size gradients and summed three: a 512 px wrapped step cost 2-15% more than the
    zero-padded one, against -0.3 to +4% this way; benchmarks/textures.py --parts cost.)"""

    @tf.custom_gradient
    def pad(tensor):
        def gradient(upstream):
            # Padded position 0 holds the last slice and position n + 1 the first.
            def one_slice():
                return _along(upstream, axis, 0, 1) + _along(upstream, axis, 1, 2) + \
                    _along(upstream, axis, 2, 3)

            def several_slices():
                return tf.concat([
                    _along(upstream, axis, 1, 2) + _along(upstream, axis, -1, None),
                    _along(upstream, axis, 2, -2),
                    _along(upstream, axis, -2, -1) + _along(upstream, axis, 0, 1)], axis=axis)

            size = upstream.shape[axis]
            if size is not None:
                return one_slice() if size == 3 else several_slices()
            return tf.cond(tf.equal(tf.shape(upstream)[axis], 3), one_slice, several_slices)

        return tf.concat([_along(tensor, axis, -1, None), tensor, _along(tensor, axis, 0, 1)],
                         axis=axis), gradient

    return pad(inputs)


class WrapPadding2D(layers.Layer):
    """One pixel on each side of a (batch, H, W, C) map: taken from the opposite edge on the
    axes `wrap` names (rows, columns), zeros on the others. Before a `valid` 3x3 conv it
    makes the conv circular, which Keras's `Conv2D` has no padding for."""

    def __init__(self, wrap: Sequence[bool], **kwargs):
        super().__init__(**kwargs)
        self.wrap = tuple(bool(axis) for axis in wrap)

    def call(self, inputs):
        padded = inputs
        for axis, wraps in ((1, self.wrap[0]), (2, self.wrap[1])):
            if wraps:
                padded = wrap_pad(padded, axis)
            else:
                widths = [[0, 0]] * 4
                widths[axis] = [1, 1]
                padded = keras.ops.pad(padded, widths)
        return padded

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, None if height is None else height + 2,
                None if width is None else width + 2, channels)

    def get_config(self):
        return {**super().get_config(), "wrap": self.wrap}


def build_vgg(output_layer_names: Iterable[str], pooling: str = "avg",
              precision: str = "float32", model: str = "vgg19",
              wrap: Sequence[bool] = NO_WRAP) -> keras.Model:
    """`model` (vgg19 or vgg16) up to the deepest requested conv layer, returning
    `{name: activation}`.

    The network takes preprocessed images (`preprocess_input`) of any height and width and
    computes in `precision` (float32, bfloat16 or float16; its outputs are in it too).
    Every conv pads with zeros, or wraps around on the axes `wrap` (rows, columns) names:
    a seamless picture. Wrapped, each side it wraps must be a multiple of 16, so that the
    pools (which never pad) keep the picture periodic. Weights are left at Keras's
    initialisation; `tf_style.weights` fills them.
    """
    wrap = tuple(bool(axis) for axis in wrap)
    output_layer_names = tuple(output_layer_names)
    if not output_layer_names:
        raise ValueError("`output_layer_names` needs at least one layer. Received: ()")
    known = conv_layer_names(model)
    unknown = [name for name in output_layer_names if name not in known]
    if unknown:
        raise ValueError(f"Unknown {model.upper()} conv layer(s). Received: {', '.join(unknown)}")
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}")
    if precision not in _POLICIES:
        raise ValueError(f"`precision` must be one of {tuple(_POLICIES)}. "
                         f"Received: precision={precision!r}")
    policy = _POLICIES[precision]
    pool_layer = {"avg": layers.AveragePooling2D, "max": layers.MaxPooling2D}[pooling]
    deepest = max(output_layer_names, key=layer_position)

    image = keras.Input(shape=(None, None, 3), name="image")
    outputs = {}
    x = image
    for block, (filters, convolutions) in enumerate(MODEL_BLOCKS[model], start=1):
        if block > 1:
            x = pool_layer((2, 2), strides=(2, 2), name=f"block{block - 1}_pool",
                           dtype=policy)(x)
        for index in range(1, convolutions + 1):
            name = f"block{block}_conv{index}"
            full_precision = name == _FULL_PRECISION_CONV and policy != "float32"
            conv_policy = "float32" if full_precision else policy
            padding = "same"
            if any(wrap):
                x = WrapPadding2D(wrap, name=f"{name}_pad", dtype=conv_policy)(x)
                padding = "valid"
            if full_precision:
                x = layers.Conv2D(filters, (3, 3), padding=padding, name=name, dtype="float32")(x)
                x = layers.Activation("relu", name=f"{name}_relu", dtype=policy)(x)
            else:
                x = layers.Conv2D(filters, (3, 3), activation="relu", padding=padding, name=name,
                                  dtype=policy)(x)
            if name in output_layer_names:
                outputs[name] = x
            if name == deepest:
                return keras.Model(image, outputs, name=f"{model}_features")
    raise AssertionError("unreachable: the deepest layer is always found")


def with_wrap(model: keras.Model, wrap: Sequence[bool]) -> keras.Model:
    """A model from `build_vgg` again, its convs wrapping around on the axes `wrap` names,
    holding a copy of its weights."""
    pools = [layer for layer in model.layers if isinstance(layer, layers.AveragePooling2D)
             or isinstance(layer, layers.MaxPooling2D)]
    pooling = "max" if pools and isinstance(pools[0], layers.MaxPooling2D) else "avg"
    wrapped = build_vgg(tuple(model.output), pooling=pooling, precision=compute_precision(model),
                        model=architecture(model), wrap=wrap)
    for layer in conv_layers(model):
        wrapped.get_layer(layer.name).set_weights(layer.get_weights())
    return wrapped


def architecture(model: keras.Model) -> str:
    """Which network a model from `build_vgg` is: vgg19 or vgg16."""
    return model.name.split("_")[0]


def compute_precision(model: keras.Model) -> str:
    """The precision a model from `build_vgg` computes in: float32, bfloat16 or float16."""
    return str(model.layers[-1].compute_dtype)


def conv_layers(model: keras.Model) -> Tuple[layers.Conv2D, ...]:
    """The model's conv layers, in network order."""
    return tuple(layer for layer in model.layers if isinstance(layer, layers.Conv2D))


def preprocess_input(rgb: tf.Tensor) -> tf.Tensor:
    """RGB in 0-255 to the network's input: BGR, Caffe mean subtracted."""
    return rgb[..., ::-1] - CAFFE_MEAN_BGR

