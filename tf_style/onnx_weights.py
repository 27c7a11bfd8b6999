"""VGG conv weights from an ONNX file (the [onnx] extra), in Keras's layout and convention.

Conv kernels and biases are read in graph order: 13 convs are VGG16's, 16 VGG19's. ONNX
keeps kernels as (out, in, kh, kw); Keras as (kh, kw, in, out). What the first conv
expects is one of two conventions:

- keras: BGR in 0-255 less Caffe's mean (`tf_style.vgg.preprocess_input`): a Keras model
  exported by tf2onnx or keras2onnx, whose NHWC input is transposed to NCHW once;
- torchvision: RGB in 0-1 less the ImageNet mean, over its deviation: a PyTorch export
  (the ONNX model zoo's VGGs), NCHW input straight into the first conv.

The second is folded into the first conv so that Keras's preprocessing serves both, as
`tf_style.weights.read_matconvnet` does for MatConvNet's mean.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

import numpy as np

from tf_style.architecture import conv_layer_names
from tf_style.errors import WeightsError

# torchvision's normalisation, RGB: x = (rgb / 255 - mean) / deviation.
IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float64)
IMAGENET_DEVIATION_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float64)
# Caffe's ImageNet mean, BGR, 0-255: the Keras convention (tf_style.vgg.CAFFE_MEAN_BGR).
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float64)

CONVENTIONS: Tuple[str, ...] = ("keras", "torchvision")
# Who writes each convention's files, by the ONNX file's producer_name.
_KERAS_PRODUCERS = ("tf2onnx", "keras2onnx")
_TORCH_PRODUCERS = ("pytorch",)
# The number of convs of each model.
MODEL_BY_CONV_COUNT = {16: "vgg19", 13: "vgg16"}

Convolution = Tuple[np.ndarray, np.ndarray]  # ONNX kernel (out, in, kh, kw), bias (out,)


class OnnxWeightsError(WeightsError):
    """An ONNX file that is unreadable, not a VGG, or whose input convention is unclear."""


@dataclasses.dataclass(frozen=True)
class OnnxVgg:
    """What an ONNX file holds: its convs in graph order, the model they make, and the
    input convention with the reason it was decided."""

    convolutions: List[Convolution]
    model: str
    convention: str
    reason: str


def read_onnx_vgg(path: str, convention: str = "auto") -> OnnxVgg:
    """The VGG convs of an ONNX file, and its input convention: `convention` when given
    (keras or torchvision), else read from the graph; OnnxWeightsError when unsure."""
    try:
        import onnx  # noqa: PLC0415 - the [onnx] extra
        from onnx import numpy_helper  # noqa: PLC0415 - the [onnx] extra
    except ImportError:
        raise OnnxWeightsError("reading .onnx weights needs onnx: pip install -e '.[onnx]'") from None
    try:
        graph_model = onnx.load(path)
    except Exception as error:  # noqa: BLE001 - protobuf raises its own DecodeError and more
        raise OnnxWeightsError(f"cannot read ONNX file {path}: {_one_line(error)}") from None
    graph = graph_model.graph
    constants = {tensor.name: tensor for tensor in graph.initializer}
    for node in graph.node:  # some exporters keep weights as Constant nodes
        if node.op_type == "Constant" and node.attribute:
            constants[node.output[0]] = node.attribute[0].t
    convs = [node for node in graph.node if node.op_type == "Conv"]
    convolutions = []
    for node in convs:
        _check_vgg_conv(path, node, onnx)
        if len(node.input) < 3 or node.input[1] not in constants or node.input[2] not in constants:
            raise OnnxWeightsError(f"ONNX file {path}: conv {node.name} has no constant kernel "
                                   "and bias (weights computed in the graph are not read)")
        convolutions.append((numpy_helper.to_array(constants[node.input[1]]).astype(np.float32),
                             numpy_helper.to_array(constants[node.input[2]]).astype(np.float32)))
    if len(convolutions) not in MODEL_BY_CONV_COUNT:
        raise OnnxWeightsError(f"ONNX file {path} has {len(convolutions)} conv layers; a VGG16 "
                               "has 13 and a VGG19 16")
    model = MODEL_BY_CONV_COUNT[len(convolutions)]
    if convention == "auto":
        convention, reason = _decide_convention(path, graph_model, convs[0])
    elif convention in CONVENTIONS:
        reason = "given by --onnx_convention"
    else:
        raise ValueError(f"`convention` must be auto or one of {CONVENTIONS}. "
                         f"Received: convention={convention!r}")
    return OnnxVgg(convolutions, model, convention, reason)


def keras_layer_weights(vgg: OnnxVgg) -> dict:
    """`{layer name: (kernel, bias)}` in Keras's layout, for Keras's preprocessing."""
    layer_weights = {}
    for name, (kernel, bias) in zip(conv_layer_names(vgg.model), vgg.convolutions):
        layer_weights[name] = (np.transpose(kernel, (2, 3, 1, 0)), bias)
    if vgg.convention == "torchvision":
        layer_weights["block1_conv1"] = fold_torchvision_input(*layer_weights["block1_conv1"])
    return layer_weights


def fold_torchvision_input(kernel: np.ndarray, bias: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """A first conv (kh, kw, in RGB, out) over torchvision's input turned into one over
    Keras's: x_torch = (rgb / 255 - mean) / deviation and rgb = flip(x_keras) + flip(caffe),
    so x_torch = flip(x_keras) / (255 deviation) + (flip(caffe) / 255 - mean) / deviation.

    Exact away from the border: zero padding means rgb = 255 mean to the one and the Caffe
    mean to the other (at most 0.5 grey levels apart).
    """
    scale = 1.0 / (255.0 * IMAGENET_DEVIATION_RGB)
    offset = (CAFFE_MEAN_BGR[::-1] / 255.0 - IMAGENET_MEAN_RGB) / IMAGENET_DEVIATION_RGB
    folded_bias = bias + np.einsum("hwio,i->o", kernel.astype(np.float64), offset)
    folded_kernel = (kernel * scale[None, None, :, None])[:, :, ::-1, :]  # RGB -> BGR inputs
    return folded_kernel.astype(np.float32), folded_bias.astype(np.float32)


def _check_vgg_conv(path: str, node, onnx) -> None:
    """A 3x3 conv at stride 1 with one pixel of zero padding, as every VGG conv is."""
    attributes = {attribute.name: onnx.helper.get_attribute_value(attribute)
                  for attribute in node.attribute}
    pads = attributes.get("pads", [0, 0, 0, 0])
    auto_pad = attributes.get("auto_pad", b"NOTSET")
    same = auto_pad in (b"SAME_UPPER", b"SAME_LOWER") or list(pads) == [1, 1, 1, 1]
    if (list(attributes.get("strides", [1, 1])) != [1, 1] or attributes.get("group", 1) != 1
            or list(attributes.get("dilations", [1, 1])) != [1, 1] or not same):
        raise OnnxWeightsError(f"ONNX file {path}: conv {node.name} is not a VGG conv (3x3, "
                               f"stride 1, padding 1); got {attributes}")


def _decide_convention(path: str, graph_model, first_conv) -> Tuple[str, str]:
    """The first conv's input convention from the graph, with the reason; refused when the
    path from the input to it, its layout and the file's producer do not agree."""
    graph = graph_model.graph
    producers = {output: node for node in graph.node for output in node.output}
    inputs = {value.name: value for value in graph.input}
    name, permutation = first_conv.input[0], None
    while name not in inputs:
        node = producers.get(name)
        if node is None or node.op_type != "Transpose" or permutation is not None:
            step = "nothing" if node is None else node.op_type
            raise OnnxWeightsError(
                f"cannot tell what the first conv of {path} expects: {step} stands between the "
                "input and it; pass --onnx_convention keras (BGR 0-255 less Caffe's mean) or "
                "torchvision (RGB 0-1 less the ImageNet mean, over its deviation)")
        permutation = [attribute.ints for attribute in node.attribute if attribute.name == "perm"]
        permutation = list(permutation[0]) if permutation else []
        name = node.input[0]
    dimensions = [dimension.dim_value for dimension in
                  inputs[name].type.tensor_type.shape.dim]
    producer = graph_model.producer_name
    layout = _layout(dimensions, permutation)
    if layout == "NHWC" and producer in _KERAS_PRODUCERS:
        return "keras", (f"an NHWC input transposed for the first conv, written by {producer}: "
                         "a Keras export, which takes Keras's VGG input")
    if layout == "NCHW" and producer in _TORCH_PRODUCERS:
        return "torchvision", (f"an NCHW input straight into the first conv, written by "
                               f"{producer}: a torchvision-style export")
    raise OnnxWeightsError(
        f"cannot tell what the first conv of {path} expects ({layout or 'unknown'} input, "
        f"producer {producer!r}); pass --onnx_convention keras (BGR 0-255 less Caffe's mean) or "
        "torchvision (RGB 0-1 less the ImageNet mean, over its deviation)")


def _layout(dimensions: List[int], permutation: Optional[List[int]]) -> Optional[str]:
    """NHWC when three channels come last and are moved to second; NCHW when they are second
    already; else None."""
    if len(dimensions) != 4:
        return None
    if permutation == [0, 3, 1, 2] and dimensions[3] == 3:
        return "NHWC"
    if permutation is None and dimensions[1] == 3:
        return "NCHW"
    return None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
