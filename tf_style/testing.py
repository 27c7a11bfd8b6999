"""Helpers for tests and benchmarks: synthetic pictures, weight files in the official
layouts, and directory snapshots. Nothing here is needed to run a transfer.

TensorFlow, h5py and SciPy are imported only by the helpers that use them.
"""

from __future__ import annotations

import glob
import os
import struct
import zlib
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from tf_style import run_identity
from tf_style.architecture import MODEL_BLOCKS, VGG19_CONV_LAYER_NAMES, conv_layer_names

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


def official_layer_names(model: str = "vgg19") -> List[str]:
    """Layer order of the official Keras notop file: input, then convs and pools."""
    names = ["input_1"]
    for block, (_, convolutions) in enumerate(MODEL_BLOCKS[model], start=1):
        names += [f"block{block}_conv{i}" for i in range(1, convolutions + 1)]
        names.append(f"block{block}_pool")
    return names


def reference_weights(seed: int = 0, model: str = "vgg19") -> LayerWeights:
    """He-normal kernels and non-zero biases for every conv layer, Keras (BGR) layout."""
    from tf_style import vgg  # noqa: PLC0415 - TensorFlow only for the helpers that need it

    rng = np.random.default_rng(seed)
    model = vgg.build_vgg([conv_layer_names(model)[-1]], model=model)
    result = {}
    for layer in vgg.conv_layers(model):
        shape = tuple(layer.kernel.shape)
        kernel = rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[:3]))
        result[layer.name] = (kernel.astype(np.float32),
                              rng.normal(0, 0.1, shape[-1]).astype(np.float32))
    return result


def write_keras_h5(path: str, layer_weights: LayerWeights, *, break_layer: str = None) -> None:
    """The layout of vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 (Keras 2 HDF5), or
    of VGG16's when `layer_weights` has VGG16's layers.

    `break_layer` gets a kernel of the wrong shape, for testing refusals.
    """
    import h5py  # noqa: PLC0415 - Keras's dependency, needed only here

    model = "vgg19" if "block3_conv4" in layer_weights else "vgg16"
    with h5py.File(path, "w") as file:
        file.attrs["layer_names"] = [n.encode() for n in official_layer_names(model)]
        file.attrs["backend"] = b"tensorflow"
        file.attrs["keras_version"] = b"2.1.5"
        for name in official_layer_names(model):
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
    import scipy.io  # noqa: PLC0415 - the [mat] extra

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


# Damaged and hostile image files, for the robustness tests and the soak.

def png_declaring(width: int, height: int) -> bytes:
    """A valid-looking PNG whose header declares `width` x `height` with almost no data:
    a decompression bomb's signature."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def image_file_corpus(directory: str) -> List[str]:
    """Intact files of many formats and modes, including float pixels holding NaN and inf."""
    os.makedirs(directory, exist_ok=True)
    picture = synthetic_image(40, 56, seed=7)
    gray = picture[..., 0]
    variants = {
        "rgb.png": (Image.fromarray(picture), {}),
        "palette.png": (Image.fromarray(picture).convert("P", palette=Image.Palette.ADAPTIVE), {}),
        "gray16.png": (Image.fromarray(gray.astype(np.uint16) * 257), {}),
        "rgba.png": (Image.fromarray(picture).convert("RGBA"), {}),
        "baseline.jpg": (Image.fromarray(picture), {"quality": 90}),
        "progressive.jpg": (Image.fromarray(picture), {"quality": 90, "progressive": True}),
        "cmyk.jpg": (Image.fromarray(picture).convert("CMYK"), {}),
        "rgb.tif": (Image.fromarray(picture), {}),
        "float.tif": (Image.fromarray(gray.astype(np.float32) / 255.0), {}),
        "anim.gif": (Image.fromarray(picture).convert("P"), {}),
        "rgb.bmp": (Image.fromarray(picture), {}),
        "rgb.webp": (Image.fromarray(picture), {"quality": 90}),
        "tiny.png": (Image.fromarray(picture[:1, :1]), {}),
    }
    paths = []
    for name, (image, options) in variants.items():
        path = os.path.join(directory, name)
        image.save(path, **options)
        paths.append(path)
    for name, value in (("nan.tif", np.nan), ("inf.tif", np.inf)):
        pixels = gray.astype(np.float32)
        pixels[5:9, 5:9] = value
        path = os.path.join(directory, name)
        Image.fromarray(pixels, mode="F").save(path)
        paths.append(path)
    return paths


def damaged_copies(paths: List[str], directory: str, count: int, seed: int) -> List[str]:
    """`count` damaged copies of `paths`: cut short at random points, or 1-8 bytes flipped."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    damaged = []
    for index in range(count):
        source = paths[index % len(paths)]
        with open(source, "rb") as file:
            data = bytearray(file.read())
        if index % 3 == 0:
            data = data[: int(rng.integers(0, len(data)))]
            kind = "cut"
        else:
            for position in rng.integers(0, len(data), int(rng.integers(1, 9))):
                data[position] ^= int(rng.integers(1, 256))
            kind = "flip"
        path = os.path.join(directory, f"{index:04d}_{kind}_{os.path.basename(source)}")
        with open(path, "wb") as file:
            file.write(bytes(data))
        damaged.append(path)
    return damaged


def run_pair_killed_once(config, victim: str, pid_file: str, at_step: int = 2):
    """`batch.run_pair` that, for the pair named `victim` and on its first try only, writes
    its process id to `pid_file` at `at_step` and waits there to be killed (by a test, as a
    lost worker would be). The retry writes the first step it makes to `pid_file`.retry."""
    import time  # noqa: PLC0415

    from tf_style import batch, runner  # noqa: PLC0415

    is_victim = os.path.basename(run_identity.run_dir(config)) == victim
    first_try = is_victim and not os.path.exists(pid_file)

    def run(pair_config, callbacks=()):
        def wait_to_be_killed(report):
            if is_victim and not first_try and not os.path.exists(pid_file + ".retry"):
                with open(pid_file + ".retry", "w") as file:  # the step the retry began with
                    file.write(str(report.step))
            if first_try and report.step == at_step:
                with open(pid_file + ".tmp", "w") as file:
                    file.write(str(os.getpid()))
                os.replace(pid_file + ".tmp", pid_file)
                time.sleep(120)
                raise RuntimeError("was not killed")
        return runner.run(pair_config, [*callbacks, wait_to_be_killed])

    return batch.run_pair(config, run=run)


def panned_frames(picture: np.ndarray, count: int, height: int, width: int,
                  step: int = 2) -> List[np.ndarray]:
    """A camera pan: `count` crops of `picture` (uint8 RGB), each `step` px right of the last."""
    return [np.ascontiguousarray(picture[:height, index * step:index * step + width])
            for index in range(count)]


def write_clip(path: str, frames: List[np.ndarray], fps: int = 12,
               audio_rate: int = 0) -> None:
    """An .mkv of `frames` (uint8 RGB) in lossless RGB H.264, so frames read back exactly,
    with `audio_rate` > 0 a sine tone (AAC) as long as the video. Written with PyAV."""
    import av  # noqa: PLC0415
    from fractions import Fraction  # noqa: PLC0415

    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264rgb", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "rgb24"
        stream.options = {"qp": "0"}
        audio = container.add_stream("aac", rate=audio_rate) if audio_rate else None
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio is not None:
            samples = int(audio_rate * len(frames) / fps)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / audio_rate))
            tone = tone.astype(np.float32)[None]
            chunk = 1024
            for start in range(0, samples, chunk):
                frame = av.AudioFrame.from_ndarray(tone[:, start:start + chunk], format="fltp",
                                                   layout="mono")
                frame.sample_rate = audio_rate
                frame.pts = start
                frame.time_base = Fraction(1, audio_rate)
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)


def write_onnx_vgg(path: str, convolutions: List[Tuple[np.ndarray, np.ndarray]], layout: str,
                   producer: str, in_front: str = None) -> List[str]:
    """A VGG as an exporter writes it: convs (kernels (out, in, 3, 3), ONNX's layout) with
    ReLUs, max pools between blocks (blocks as VGG16's for 13 convs, else VGG19's).

    `layout` NHWC: a tf2onnx-style input transposed once before the first conv; NCHW: a
    PyTorch-style input straight into it. `in_front` puts that op (Sub) between the input
    and the first conv. Every ReLU's output is a graph output; their names are returned.
    """
    import onnx  # noqa: PLC0415 - the [onnx] extra
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415 - the [onnx] extra

    model = "vgg16" if len(convolutions) == 13 else "vgg19"
    names = conv_layer_names(model)[:len(convolutions)]
    shape = ["batch", "height", "width", 3] if layout == "NHWC" else ["batch", 3, "height", "width"]
    nodes, initializers, outputs = [], [], []
    current = "input"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [current], ["nchw"], perm=[0, 3, 1, 2]))
        current = "nchw"
    if in_front:
        initializers.append(numpy_helper.from_array(np.zeros((1, 3, 1, 1), np.float32), "shift"))
        nodes.append(helper.make_node(in_front, [current, "shift"], ["shifted"]))
        current = "shifted"
    block = 1
    for name, (kernel, bias) in zip(names, convolutions):
        if int(name[5]) != block:
            block = int(name[5])
            nodes.append(helper.make_node("MaxPool", [current], [f"pool{block}"],
                                          kernel_shape=[2, 2], strides=[2, 2]))
            current = f"pool{block}"
        initializers += [numpy_helper.from_array(kernel.astype(np.float32), f"{name}/kernel"),
                         numpy_helper.from_array(bias.astype(np.float32), f"{name}/bias")]
        nodes.append(helper.make_node("Conv", [current, f"{name}/kernel", f"{name}/bias"],
                                      [f"{name}/conv"], name=name, kernel_shape=[3, 3],
                                      pads=[1, 1, 1, 1], strides=[1, 1]))
        nodes.append(helper.make_node("Relu", [f"{name}/conv"], [f"{name}_relu"]))
        current = f"{name}_relu"
        outputs.append(current)
    graph = helper.make_graph(
        nodes, "vgg", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None) for output in outputs],
        initializer=initializers)
    onnx_model = helper.make_model(graph, producer_name=producer,
                                   opset_imports=[helper.make_opsetid("", 13)])
    onnx_model.ir_version = 8  # readable by onnxruntime releases of the last years
    onnx.save(onnx_model, path)
    return outputs
