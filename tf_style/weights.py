"""VGG19 and VGG16 weights: the official Keras ImageNet files, MatConvNet's .mat, ONNX
files (`tf_style.onnx_weights`), or seeded random.

Every source is turned into one layout before it reaches the model: Keras's, i.e.
kernels `(3, 3, in, out)` that expect BGR input with Caffe's mean subtracted
(`tf_style.vgg.preprocess_input`), so one preprocessing serves all of them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from typing import Dict, Optional, Tuple

import keras
import numpy as np
from absl import logging

from tf_style import onnx_weights, vgg
from tf_style.architecture import MODELS, conv_layer_names
from tf_style.errors import WeightsError
from tf_style.files import file_digest

# Keras's ImageNet files without the classifier, and their md5 (keras.applications).
KERAS_WEIGHTS_FILES = {
    "vgg19": ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
              "253f8cb515780f3b799900260a226db6"),
    "vgg16": ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
              "6d6bbae143d832006294945121d1f1fc"),
}
KERAS_WEIGHTS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
KERAS_WEIGHTS_FILE, KERAS_WEIGHTS_MD5 = KERAS_WEIGHTS_FILES["vgg19"]
KERAS_WEIGHTS_URL = KERAS_WEIGHTS_BASE_URL + "vgg19/" + KERAS_WEIGHTS_FILE


def keras_weights_url(model: str) -> str:
    """Where Keras downloads `model`'s ImageNet file from."""
    return f"{KERAS_WEIGHTS_BASE_URL}{model}/{KERAS_WEIGHTS_FILES[model][0]}"


LayerWeights = Dict[str, Tuple[np.ndarray, np.ndarray]]


class NotDownloaded(WeightsError):
    """The ImageNet file is not on disk, and downloading it was not allowed."""


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """Where a run's weights come from: `kind` is imagenet, keras_h5, matconvnet, onnx or
    random; an ONNX file's input `convention` (keras or torchvision) and why it was decided."""

    kind: str
    path: Optional[str] = None
    seed: Optional[int] = None
    md5: Optional[str] = None
    convention: Optional[str] = None
    convention_reason: Optional[str] = None

    @property
    def features(self) -> str:
        """trained (any weight file: ImageNet's) or random: which defaults a run takes."""
        return "random" if self.kind == "random" else "trained"

    def describe(self) -> str:
        if self.kind == "random":
            return f"random He-normal weights (seed {self.seed})"
        described = f"{self.kind} weights from {self.path} (md5 {self.md5})"
        if self.convention is not None:
            described += f", {self.convention} input convention ({self.convention_reason})"
        return described

    def identity(self) -> dict:
        """What makes two runs' weights the same: the kind and the file's digest or seed
        (an ONNX file's convention too)."""
        identity = {"kind": self.kind, "md5": self.md5, "seed": self.seed}
        if self.convention is not None:
            identity["convention"] = self.convention
        return identity


def resolve_weights(spec: str, weights_dir: str, seed: int, *, model: str = "vgg19",
                    origin: Optional[str] = None, md5: Optional[str] = None,
                    keras_cache_dir: Optional[str] = None,
                    onnx_convention: str = "auto", download: bool = True) -> WeightsSource:
    """Turns `--weights` (auto, imagenet, random or a path) into a concrete source for
    `model` (vgg19 or vgg16).

    `auto` takes the model's ImageNet weights when they are on disk or can be downloaded,
    and otherwise falls back to random ones with one warning that says how to get them.
    A weight file must hold `model`'s layers: one line says which model it holds if not.
    Without `download`, a missing ImageNet file raises NotDownloaded (--dry_run).
    """
    if model not in MODELS:
        raise ValueError(f"`model` must be one of {MODELS}. Received: model={model!r}")
    file_name, expected_md5 = KERAS_WEIGHTS_FILES[model]
    origin = origin or keras_weights_url(model)
    md5 = md5 or expected_md5
    if spec == "random":
        return WeightsSource("random", seed=seed)
    if spec in ("imagenet", "auto"):
        try:
            path = find_or_download_imagenet(weights_dir, origin=origin, md5=md5,
                                             keras_cache_dir=keras_cache_dir, download=download)
        except WeightsError as error:
            if spec == "imagenet" or isinstance(error, NotDownloaded):
                raise
            logging.warning(
                "ImageNet %s weights unavailable (%s); using random weights (seed %d). "
                "For ImageNet weights put %s from %s into %s/ and rerun with --overwrite "
                "(offline: docs/usage.md, \"Trained features offline\").",
                model.upper(), error, seed, file_name, origin, weights_dir)
            return WeightsSource("random", seed=seed)
        return WeightsSource("imagenet", path=path, md5=md5)
    if not os.path.isfile(spec):
        raise WeightsError(
            f"--weights must be auto, imagenet, random or a weight file; no file at {spec}")
    extension = os.path.splitext(spec)[1].lower()
    if extension in (".h5", ".hdf5"):
        _check_model(spec, _h5_model(spec), model)
        return WeightsSource("keras_h5", path=spec, md5=file_md5(spec))
    if extension == ".mat":
        return WeightsSource("matconvnet", path=spec, md5=file_md5(spec))
    if extension == ".onnx":
        onnx_vgg = onnx_weights.read_onnx_vgg(spec, onnx_convention)
        _check_model(spec, onnx_vgg.model, model)
        return WeightsSource("onnx", path=spec, md5=file_md5(spec), convention=onnx_vgg.convention,
                             convention_reason=onnx_vgg.reason)
    raise WeightsError(f"weight file {spec} is neither Keras .h5, MatConvNet .mat nor ONNX .onnx")


def _check_model(path: str, file_model: Optional[str], model: str) -> None:
    if file_model is not None and file_model != model:
        raise WeightsError(f"weight file {path} holds {file_model.upper()}'s conv layers; run "
                           f"with --model {file_model}. Received: --model {model}")


def _h5_model(path: str) -> Optional[str]:
    """The model a Keras weight file's conv layers make (vgg19 has block3_conv4), or None
    when it is unreadable (load_weights says why)."""
    try:
        names = set(read_keras_h5(path))
    except WeightsError:
        return None
    for model in MODELS:
        if set(conv_layer_names(model)) == names & set(conv_layer_names("vgg19")):
            return model
    return None


def find_or_download_imagenet(weights_dir: str, *, origin: str = KERAS_WEIGHTS_URL,
                              md5: str = KERAS_WEIGHTS_MD5,
                              keras_cache_dir: Optional[str] = None,
                              download: bool = True) -> str:
    """The verified ImageNet file: from `weights_dir`, the Keras cache, or a download
    (NotDownloaded where `download` is False).

    A file whose md5 differs (a partial download, a corrupt copy) is never used.
    """
    if keras_cache_dir is None:
        keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
        keras_cache_dir = os.path.join(keras_home, "models")
    file_name = os.path.basename(origin)
    problems = []
    for directory in (weights_dir, keras_cache_dir):
        path = os.path.join(directory, file_name)
        if not os.path.isfile(path):
            continue
        if file_md5(path) == md5:
            return path
        problems.append(f"{path} has the wrong md5 (a partial or corrupt copy)")
    if not download:
        raise NotDownloaded("; ".join(problems) or f"{file_name} is not in {weights_dir}/ yet")
    try:
        os.makedirs(weights_dir, exist_ok=True)
        download_dir = tempfile.mkdtemp(dir=weights_dir, prefix=".download-")
    except OSError as error:
        raise WeightsError(f"cannot write to {weights_dir}: {error.strerror}") from None
    try:
        # get_file writes to its target as it goes and keeps a file whose hash fails;
        # so it downloads into a scratch folder and only a verified file is moved in.
        downloaded = keras.utils.get_file(
            file_name, origin, file_hash=md5, hash_algorithm="md5",
            cache_dir=download_dir, cache_subdir="")
        path = os.path.join(weights_dir, file_name)
        os.replace(downloaded, path)
        return path
    except Exception as error:
        problems.append(f"download failed: {_one_line(error)}")
        raise WeightsError("; ".join(problems)) from error
    finally:
        shutil.rmtree(download_dir, ignore_errors=True)


def load_weights(model: keras.Model, source: WeightsSource) -> None:
    """Fills the model's conv layers from `source`, checking every shape."""
    if source.kind == "random":
        layer_weights = random_weights(model, source.seed)
    elif source.kind in ("imagenet", "keras_h5"):
        layer_weights = read_keras_h5(source.path)
    elif source.kind == "matconvnet":
        layer_weights = read_matconvnet(source.path, vgg.architecture(model))
    elif source.kind == "onnx":
        layer_weights = onnx_weights.keras_layer_weights(
            onnx_weights.read_onnx_vgg(source.path, source.convention))
    else:
        raise ValueError(f"Unknown weights kind. Received: kind={source.kind!r}")
    for layer in vgg.conv_layers(model):
        if layer.name not in layer_weights:
            raise WeightsError(f"weight file {source.path} has no layer {layer.name}")
        kernel, bias = layer_weights[layer.name]
        expected = (tuple(layer.kernel.shape), tuple(layer.bias.shape))
        if (kernel.shape, bias.shape) != expected:
            raise WeightsError(
                f"weight file {source.path} has the wrong shape for {layer.name}: kernel "
                f"{kernel.shape} and bias {bias.shape}, expected {expected[0]} and {expected[1]}")
        layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])


def random_weights(model: keras.Model, seed: int) -> LayerWeights:
    """He-normal kernels and zero biases, the same for a seed on every machine.

    Random-feature VGG with average pooling transfers style (He, Wang & Hopcroft,
    NeurIPS 2016). Each layer draws from its own stream, so a model cut at block3
    gets the same block1 weights as the full one.
    """
    layer_weights = {}
    names = conv_layer_names(vgg.architecture(model))
    for layer in vgg.conv_layers(model):
        kernel_shape = tuple(layer.kernel.shape)
        fan_in = int(np.prod(kernel_shape[:3]))
        rng = np.random.default_rng([seed, names.index(layer.name)])
        kernel = rng.standard_normal(kernel_shape) * np.sqrt(2.0 / fan_in)
        layer_weights[layer.name] = (kernel, np.zeros(kernel_shape[-1]))
    return layer_weights


def read_keras_h5(path: str) -> LayerWeights:
    """Conv kernels and biases from a Keras HDF5 weight file (the official layout)."""
    import h5py  # noqa: PLC0415 - Keras's dependency, needed only for .h5 files

    layer_weights = {}
    try:
        with h5py.File(path, "r") as file:
            group = file["model_weights"] if "model_weights" in file else file
            for name in _as_strings(group.attrs.get("layer_names", list(group.keys()))):
                weight_names = _as_strings(group[name].attrs.get("weight_names", []))
                if len(weight_names) == 2:
                    kernel, bias = (np.asarray(group[name][w]) for w in weight_names)
                    layer_weights[name] = (kernel, bias)
    except (OSError, KeyError, ValueError) as error:
        raise WeightsError(f"cannot read Keras weight file {path}: {_one_line(error)}") from error
    return layer_weights


def read_matconvnet(path: str, model: str = "vgg19") -> LayerWeights:
    """Conv kernels and biases from MatConvNet's imagenet-vgg-verydeep-19.mat (or -16).

    MatConvNet stores kernels as (width, height, in, out) for RGB input minus its own
    mean image. We transpose to Keras's (height, width, in, out), flip the first
    kernel's input channels to BGR, and fold the difference between its mean and
    Caffe's into the first bias, so the Keras preprocessing serves this file too.
    """
    try:
        import scipy.io  # noqa: PLC0415 - the [mat] extra
    except ImportError as error:
        raise WeightsError("reading .mat weights needs SciPy: pip install -e '.[mat]'") from error
    try:
        data = scipy.io.loadmat(path)
        mat_layers = data["layers"][0]
        mean_rgb = np.mean(data["normalization"][0][0]["averageImage"], axis=(0, 1))
        convolutions = []
        for mat_layer in mat_layers:
            fields = mat_layer[0][0]
            if str(fields["type"][0]) == "conv":
                kernel, bias = fields["weights"][0]
                convolutions.append((np.transpose(kernel, (1, 0, 2, 3)), np.reshape(bias, -1)))
    except (OSError, KeyError, ValueError, IndexError, TypeError) as error:
        raise WeightsError(f"cannot read MatConvNet file {path}: {_one_line(error)}") from error
    names = conv_layer_names(model)
    if len(convolutions) < len(names):
        raise WeightsError(f"MatConvNet file {path} has {len(convolutions)} conv layers, "
                           f"{model.upper()} needs {len(names)}")
    layer_weights = dict(zip(names, convolutions))
    first_kernel, first_bias = layer_weights["block1_conv1"]
    bgr_kernel = first_kernel[:, :, ::-1, :]
    mean_shift_bgr = vgg.CAFFE_MEAN_BGR - mean_rgb[::-1]
    # conv(x - mat_mean) = conv(x - caffe_mean) + sum(W * (caffe_mean - mat_mean)), exact
    # away from the border (zero padding sees the shift there); the means differ by <0.01.
    folded_bias = first_bias + np.einsum("hwio,i->o", bgr_kernel, mean_shift_bgr)
    layer_weights["block1_conv1"] = (bgr_kernel, folded_bias)
    return layer_weights


def file_md5(path: str) -> str:
    return file_digest(path, "md5")


def _as_strings(values) -> list:
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
