"""Helpers for tests and benchmarks: synthetic pictures, weight files in the official
layouts, and directory snapshots. Nothing here is needed to run a transfer.

TensorFlow, h5py and SciPy are imported only by the helpers that use them.
"""

from __future__ import annotations

import glob
import os
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from tf_style.config import VGG19_CONV_LAYER_NAMES

LayerWeights = Dict[str, Tuple[np.ndarray, np.ndarray]]


def synthetic_image(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth colour gradients plus stripes (uint8 RGB): structure for content, texture for style."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(0.05, 0.4, 2).tolist() + [rng.uniform(0, 6.3)]
        channels.append(127.5 + 120 * np.sin(fx * x + fy * y + phase))
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def write_image_pair(directory: str) -> Tuple[str, str]:
    """Writes a 48x64 content and a 64x64 style PNG into `directory`; returns their paths."""
    content, style = os.path.join(directory, "content.png"), os.path.join(directory, "style.png")
    Image.fromarray(synthetic_image(48, 64, seed=1)).save(content)
    Image.fromarray(synthetic_image(64, 64, seed=2)).save(style)
    return content, style


def snapshot(directory: str) -> Dict[str, bytes]:
    """Every file below `directory` with its bytes, to prove nothing was changed."""
    result = {}
    for path in sorted(glob.glob(os.path.join(directory, "**"), recursive=True)):
        if os.path.isfile(path):
            with open(path, "rb") as file:
                result[os.path.relpath(path, directory)] = file.read()
    return result


def official_layer_names() -> List[str]:
    """Layer order of the official Keras notop file: input, then convs and pools."""
    names = ["input_1"]
    for block, convolutions in enumerate((2, 2, 4, 4, 4), start=1):
        names += [f"block{block}_conv{i}" for i in range(1, convolutions + 1)]
        names.append(f"block{block}_pool")
    return names


def reference_weights(seed: int = 0) -> LayerWeights:
    """He-normal kernels and non-zero biases for every conv layer, Keras (BGR) layout."""
    from tf_style import vgg

    rng = np.random.default_rng(seed)
    model = vgg.build_vgg19(["block5_conv4"])
    result = {}
    for layer in vgg.conv_layers(model):
        shape = tuple(layer.kernel.shape)
        kernel = rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[:3]))
        result[layer.name] = (kernel.astype(np.float32),
                              rng.normal(0, 0.1, shape[-1]).astype(np.float32))
    return result


def write_keras_h5(path: str, layer_weights: LayerWeights, *, break_layer: str = None) -> None:
    """The layout of vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 (Keras 2 HDF5).

    `break_layer` gets a kernel of the wrong shape, for testing refusals.
    """
    import h5py

    with h5py.File(path, "w") as file:
        file.attrs["layer_names"] = [n.encode() for n in official_layer_names()]
        file.attrs["backend"] = b"tensorflow"
        file.attrs["keras_version"] = b"2.1.5"
        for name in official_layer_names():
            group = file.create_group(name)
            if name not in layer_weights:
                group.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            kernel, bias = layer_weights[name]
            if name == break_layer:
                kernel = kernel[:, :, :1, :]
            weight_names = [f"{name}_W_1:0".encode(), f"{name}_b_1:0".encode()]
            group.attrs["weight_names"] = weight_names
            group.create_dataset(weight_names[0], data=kernel)
            group.create_dataset(weight_names[1], data=bias)


def write_matconvnet(path: str, layer_weights: LayerWeights, mean_rgb: np.ndarray) -> None:
    """The layout of imagenet-vgg-verydeep-19.mat: 43 layers, (W, H, in, out) RGB kernels."""
    import scipy.io

    entries = []
    for index, name in enumerate(VGG19_CONV_LAYER_NAMES):
        kernel, bias = layer_weights[name]
        if index == 0:
            kernel = kernel[:, :, ::-1, :]  # Keras's BGR back to MatConvNet's RGB
        mat_name = "conv" + name[5] + "_" + name[-1]
        entries.append({"name": mat_name, "type": "conv",
                        "weights": _cell(np.transpose(kernel, (1, 0, 2, 3)), bias.reshape(1, -1))})
        entries.append({"name": "relu" + mat_name[4:], "type": "relu"})
        if name.endswith(("block1_conv2", "block2_conv2", "conv4")):
            entries.append({"name": "pool" + name[5], "type": "pool"})
    for fc in ("fc6", "fc7", "fc8"):  # fully connected layers are 'conv' too in MatConvNet
        entries.append({"name": fc, "type": "conv",
                        "weights": _cell(np.ones((1, 1, 2, 2)), np.ones((1, 2)))})
        entries.append({"name": "relu" + fc[2:] if fc != "fc8" else "prob",
                        "type": "relu" if fc != "fc8" else "softmax"})
    assert len(entries) == 43
    layers = np.empty((1, len(entries)), dtype=object)
    for index, entry in enumerate(entries):
        layers[0, index] = entry
    average_image = np.broadcast_to(mean_rgb, (224, 224, 3)).astype(np.float32)
    scipy.io.savemat(path, {"layers": layers, "normalization": {"averageImage": average_image}})


def _cell(*items) -> np.ndarray:
    cell = np.empty((1, len(items)), dtype=object)
    for index, item in enumerate(items):
        cell[0, index] = item
    return cell
