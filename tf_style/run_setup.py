"""What every run sets up before its loop, pictures and videos alike: the device and the
precision, the seed, the network with its weights, the memory plan of its inputs, the
claimed run directory, and the built-in callbacks."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Iterator, List, Optional, Sequence, Tuple

import keras
import tensorflow as tf
from absl import logging

from tf_style import devices, limits, memory, outputs, run_directory, run_identity, vgg, weights
from tf_style.callbacks import (Callback, CallbackLike, IntermediateImages, ProgressBar,
                                TensorBoard, as_callback)
from tf_style.config import TransferConfig
from tf_style.inputs import PreparedInputs
from tf_style.run_plan import Plan


def set_up_device(config: TransferConfig) -> Tuple[devices.Device, str]:
    """The device for `config.device`, TensorFlow set up to use it (before its first
    operation), and the precision `config.precision` resolves to there."""
    device = devices.find_device(config.device)
    devices.configure(device)
    return device, devices.resolve_precision(config.precision, device)


def set_up_run(config: TransferConfig) -> Tuple[devices.Device, str]:
    """`set_up_device`, then op determinism if asked and the seed: before anything random."""
    device, precision = set_up_device(config)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    return device, precision


def check_size_before_loading(config: TransferConfig, device: devices.Device,
                              precision: str) -> None:
    """Refuses a --size whose image-sized state cannot fit in this machine's memory, before
    the inputs are resized to it (`tf_style.limits`). On a GPU the machine keeps that state
    for a tiled run, so it is the machine's memory that bounds it there too."""
    if config.memory_limit is not None and device.kind == "cpu":
        limit_bytes = config.memory_limit * memory.GB
    else:
        limit_bytes, _ = device.host.available()
    model = memory.cost_model(device.kind, precision, config) if device.kind == "cpu" else None
    limits.check_size(config, precision, limit_bytes, model)


def plan_scales(config: TransferConfig, scales: Sequence[PreparedInputs],
                device: Optional[devices.Device] = None, precision: str = "float32") -> Plan:
    """The memory plan of `scales` on `device` (None: this machine's CPU) in `precision`."""
    arrays = []
    for inputs in scales:
        arrays += [inputs.content_image, inputs.initial_image, inputs.original_content,
                   *inputs.style_images, *inputs.original_styles,
                   *(inputs.content_masks or ()), *(inputs.style_masks or ())]
    shapes = [inputs.content_image.shape[:2] for inputs in scales]
    run_plan = memory.plan_run(config, shapes, memory.array_bytes(arrays), device=device,
                               precision=precision)
    if device is None:
        return run_plan
    return dataclasses.replace(run_plan, precision_note=devices.precision_note(precision, device))


def resolve_weights(config: TransferConfig, download: bool = True) -> weights.WeightsSource:
    """The weights `config.weights` resolves to for `config.model`."""
    return weights.resolve_weights(config.weights, config.weights_dir, config.seed,
                                   model=config.model, onnx_convention=config.onnx_convention,
                                   download=download)


def describe_network(config: TransferConfig) -> str:
    """The network, its weights and the defaults they bring, as --dry_run says them; the
    ImageNet file is looked for, not downloaded."""
    network = f"network {config.model.upper()}"
    try:
        source = resolve_weights(config, download=False)
    except weights.NotDownloaded as missing:
        trained = config.style_weight_for("trained")
        untrained = config.style_weight_for("random")
        return (f"{network}; weights {config.weights}: ImageNet's, which the run downloads "
                f"({missing}): defaults for trained features (style weight {trained:g}); "
                f"offline, random weights: defaults for random features (style weight "
                f"{untrained:g})")
    style_weight = config.style_weight_for(source.features)
    return (f"{network}; {source.describe()}; defaults for {source.features} features "
            f"(style weight {style_weight:g})")


def load_network(config: TransferConfig, precision: str
                 ) -> Tuple[TransferConfig, weights.WeightsSource, keras.Model]:
    """The weights `config.weights` resolves to, `config.model` in `precision` holding them,
    and the config with the defaults for those weights' features (trained or random)."""
    weights_source = resolve_weights(config)
    feature_model = vgg.build_vgg(config.content_layers + config.style_layers,
                                  pooling=config.pooling, precision=precision, model=config.model)
    weights.load_weights(feature_model, weights_source)
    return config.with_feature_defaults(weights_source.features), weights_source, feature_model


@contextlib.contextmanager
def claimed_run_directory(config: TransferConfig, record: dict,
                          weights_source: weights.WeightsSource, device: devices.Device,
                          precision: str) -> Iterator[None]:
    """The run directory held by this process for the run `record` describes, after checking
    that an explicit --output can be written; the run's first two log lines."""
    if config.output:  # the default lives in the run directory, which claim() checks
        outputs.check_writable(config.output)
    with run_directory.claim(run_identity.run_dir(config), record, config.overwrite):
        logging.info("Run directory %s; %s %s; defaults for %s features (style weight %g)",
                     run_identity.run_dir(config), config.model.upper(), weights_source.describe(),
                     weights_source.features, config.resolved_style_weight)
        logging.info("Computing on %s in %s", device.describe(),
                     devices.precision_note(precision, device))
        yield


def make_callbacks(config: TransferConfig, progress_bar: ProgressBar,
                   callbacks: Sequence[CallbackLike]) -> List[Callback]:
    """The built-in callbacks (the progress bar, TensorBoard, intermediate images), then the
    user's."""
    return [
        progress_bar,
        TensorBoard(run_identity.run_dir(config), every=config.summary_every),
        IntermediateImages(os.path.join(run_identity.run_dir(config), run_directory.IMAGE_DIR),
                           every=config.save_every),
        *(as_callback(callback) for callback in callbacks),
    ]
