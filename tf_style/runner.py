"""A whole run, top to bottom: inputs, weights, run directory, the loop, outputs.

The loop steps the `StyleTransfer` of each scale in turn, checkpoints, and hands every
step to the callbacks (progress bar, TensorBoard, intermediate images, the user's own).
"""

from __future__ import annotations

import os
import time
from typing import Callable, List, Sequence, Union

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tf_style import run_directory, vgg, weights
from tf_style.callbacks import (Callback, IntermediateImages, LambdaCallback, ProgressBar,
                                StepReport, TensorBoard, is_due)
from tf_style.checkpoints import Checkpoints, checkpointed_scale
from tf_style.config import TransferConfig
from tf_style.errors import TransferError
from tf_style.inputs import PreparedInputs, prepare_inputs
from tf_style.outputs import write_outputs
from tf_style.signals import Interrupted, StopRequest, stop_on_signals
from tf_style.transfer import StyleTransfer

CallbackLike = Union[Callback, Callable[[StepReport], None]]


def run(config: TransferConfig, callbacks: Sequence[CallbackLike] = ()) -> np.ndarray:
    """Runs (or resumes) a style transfer until `config.iters` steps; returns the image.

    With several `config.scale_sizes`, each scale starts from the previous one's result,
    upsampled; the step counter runs on across scales. `callbacks` are `Callback`s or
    plain functions of a `StepReport`. Raises TransferError for anything the user can fix;
    nothing in an existing run directory is touched until the inputs (at every scale),
    weights and settings have all been checked.
    """
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    scales = tuple(prepare_inputs(config, size) for size in config.scale_sizes)
    weights_source = weights.resolve_weights(config.weights, config.weights_dir, config.seed)
    feature_model = vgg.build_vgg19(
        config.content_layers + config.style_layers, pooling=config.pooling)
    weights.load_weights(feature_model, weights_source)
    run_dir = config.run_dir
    record = run_directory.run_record(
        config, scales[-1].original_content.shape[:2], weights_source.identity())
    run_directory.claim(run_dir, record, config.overwrite)
    logging.info("Run directory %s; %s", run_dir, weights_source.describe())

    checkpoint_dir = os.path.join(run_dir, run_directory.CHECKPOINT_DIR)
    all_callbacks: List[Callback] = [
        ProgressBar(config.iters, enabled=config.progress),
        TensorBoard(run_dir, every=config.summary_every),
        IntermediateImages(os.path.join(run_dir, run_directory.IMAGE_DIR), every=config.save_every),
        *(c if isinstance(c, Callback) else LambdaCallback(c) for c in callbacks),
    ]
    transfer = None
    try:
        with stop_on_signals() as stop:
            for scale_index in range(checkpointed_scale(checkpoint_dir), len(scales)):
                inputs = scales[scale_index]
                if transfer is None:  # the first scale of this process: resume if we can
                    transfer = StyleTransfer.from_config(config, inputs, feature_model)
                    checkpoints = Checkpoints(checkpoint_dir, transfer, scale_index,
                                              config.max_checkpoints)
                    checkpoints.restore_latest()
                else:  # a finer scale starts from the coarser result, upsampled
                    step = int(transfer.step)
                    transfer = StyleTransfer.from_config(
                        config, inputs, feature_model, inputs.upsampled(transfer.result()))
                    transfer.step.assign(step)
                    checkpoints = Checkpoints(checkpoint_dir, transfer, scale_index,
                                              config.max_checkpoints)
                if len(scales) > 1:
                    logging.info("Scale %d/%d: %dx%d px until step %d", scale_index + 1,
                                 len(scales), inputs.content_image.shape[1],
                                 inputs.content_image.shape[0], config.scale_ends[scale_index])
                _train(config, inputs, transfer, checkpoints, all_callbacks, stop,
                       end=config.scale_ends[scale_index])
    finally:
        for callback in all_callbacks:
            callback.on_run_end()
    result = scales[-1].present(transfer.result())
    write_outputs(config, scales[-1], result, steps=int(transfer.step))
    return result


def _train(config: TransferConfig, inputs: PreparedInputs, transfer: StyleTransfer,
           checkpoints: Checkpoints, callbacks: Sequence[Callback], stop: StopRequest,
           end: int) -> None:
    """Steps until `end` (the end of this scale), reporting and checkpointing as it goes."""
    step = int(transfer.step)
    if step >= config.iters and end == config.iters:  # said once, at the last scale
        logging.info("Run already has %d steps (--iters %d); writing its output", step, config.iters)
    while step < end:
        started = time.perf_counter()
        step_losses = {name: float(value) for name, value in transfer.train_step().items()}
        seconds = time.perf_counter() - started
        step = int(transfer.step)
        if not np.isfinite(step_losses["total"]):
            raise TransferError(
                f"the loss became {step_losses['total']} at step {step}; lower --lr or the weights")
        report = StepReport(step, config.iters, step_losses, seconds, transfer, end, inputs.present)
        for callback in callbacks:
            callback.on_step_end(report)
        if is_due(step, config.checkpoint_every, end):
            checkpoints.save()
        if stop.signal_number is not None:
            checkpoints.save_unless_saved()
            raise Interrupted(stop.signal_number, step)
