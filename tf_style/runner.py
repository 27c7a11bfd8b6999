"""A whole run, top to bottom: inputs, weights, run directory, the loop, outputs.

The loop steps the `StyleTransfer` of each scale in turn, checkpoints, and hands every
step to the callbacks (progress bar, TensorBoard, intermediate images, the user's own).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import time
from typing import Callable, List, Optional, Sequence, Tuple, Union

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tf_style import devices, memory, outputs, run_directory, vgg, weights
from tf_style.callbacks import (Callback, IntermediateImages, LambdaCallback, ProgressBar,
                                StepReport, TensorBoard, is_due)
from tf_style.checkpoints import Checkpoints, checkpointed_scale
from tf_style.config import TransferConfig
from tf_style.convergence import Convergence
from tf_style.errors import TransferError
from tf_style.inputs import PreparedInputs, prepare_inputs
from tf_style.signals import Interrupted, StopRequest, stop_on_signals
from tf_style.transfer import StyleTransfer

CallbackLike = Union[Callback, Callable[[StepReport], None]]


def plan(config: TransferConfig) -> memory.Plan:
    """Finds the device, loads the inputs at every scale and plans each scale: whole image
    or tiles, within the device's memory. Raises TransferError when they are bad or
    nothing fits."""
    if config.is_video:
        from tf_style.video_runner import plan_video  # noqa: PLC0415
        return plan_video(config)
    device, precision = set_up_device(config)
    return plan_scales(config, _prepare_scales(config), device, precision)


def set_up_device(config: TransferConfig) -> Tuple[devices.Device, str]:
    """The device for `config.device`, TensorFlow set up to use it (before its first
    operation), and the precision `config.precision` resolves to there."""
    device = devices.find_device(config.device)
    devices.configure(device)
    return device, devices.resolve_precision(config.precision, device)


def _prepare_scales(config: TransferConfig) -> Tuple[PreparedInputs, ...]:
    return tuple(prepare_inputs(config, size) for size in config.scale_sizes)


def plan_scales(config: TransferConfig, scales: Sequence[PreparedInputs],
                device: Optional[devices.Device] = None, precision: str = "float32") -> memory.Plan:
    """The plan of `scales` on `device` (None: this machine's CPU) in `precision`."""
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


def run(config: TransferConfig, callbacks: Sequence[CallbackLike] = ()) -> Union[np.ndarray, str]:
    """Runs (or resumes) a style transfer until `config.iters` steps; returns the image
    (for a video, the path of the video written: `tf_style.video_runner.run_video`).

    With several `config.scale_sizes`, each scale starts from the previous one's result,
    upsampled; the step counter runs on across scales. `callbacks` are `Callback`s or
    plain functions of a `StepReport`. Raises TransferError for anything the user can fix;
    nothing in an existing run directory is touched until the inputs (at every scale),
    weights and settings have all been checked.
    """
    if config.is_video:
        from tf_style.video_runner import run_video  # noqa: PLC0415
        return run_video(config, callbacks)
    device, precision = set_up_device(config)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    scales = _prepare_scales(config)
    run_plan = plan_scales(config, scales, device, precision)
    weights_source = weights.resolve_weights(config.weights, config.weights_dir, config.seed)
    feature_model = vgg.build_vgg19(
        config.content_layers + config.style_layers, pooling=config.pooling, precision=precision)
    weights.load_weights(feature_model, weights_source)
    run_dir = config.run_dir
    record = run_directory.run_record(
        config, scales[-1].original_content.shape[:2], weights_source.identity(), precision)
    if config.output:  # the default lives in the run directory, which claim() checks
        outputs.check_writable(config.output)
    with run_directory.claim(run_dir, record, config.overwrite):
        logging.info("Run directory %s; %s", run_dir, weights_source.describe())
        logging.info("Computing on %s in %s", device.describe(),
                     devices.precision_note(precision, device))
        return _run_claimed(config, scales, run_plan, feature_model, callbacks, device)


def _run_claimed(config: TransferConfig, scales: Sequence[PreparedInputs], run_plan: memory.Plan,
                 feature_model: keras.Model, callbacks: Sequence[CallbackLike],
                 device: devices.Device) -> np.ndarray:
    """The loop over scales and the outputs, in a run directory this process holds.

    From here on SIGINT/SIGTERM stop the run at the next step boundary, checkpointed.
    """
    checkpoint_dir = os.path.join(config.run_dir, run_directory.CHECKPOINT_DIR)
    with stop_on_signals() as stop:
        expected_steps = run_plan.expected_steps(config)
        all_callbacks: List[Callback] = [
            ProgressBar(config.iters, enabled=config.progress, scales=[
                (steps, scale.seconds_per_step)
                for steps, scale in zip(expected_steps, run_plan.scales)]),
            TensorBoard(config.run_dir, every=config.summary_every),
            IntermediateImages(os.path.join(config.run_dir, run_directory.IMAGE_DIR),
                               every=config.save_every),
            *(c if isinstance(c, Callback) else LambdaCallback(c) for c in callbacks),
        ]
        transfer = None
        start = None  # (image, step) the next scale starts from; None: from its checkpoint
        failed = True
        try:
            for scale_index in range(checkpointed_scale(checkpoint_dir), len(scales)):
                inputs = scales[scale_index]
                tile_size = run_plan.tile_size_at(scale_index)
                if tile_size is not None:
                    logging.info("%dx%d px in %d tiles of %d px (est. peak %.1f GB of %.1f GB)",
                                 inputs.content_image.shape[1], inputs.content_image.shape[0],
                                 run_plan.scales[scale_index].tiles, tile_size,
                                 run_plan.scales[scale_index].peak_bytes / memory.GB,
                                 run_plan.limit_bytes / memory.GB)
                if len(scales) > 1:
                    logging.info("Scale %d/%d: %dx%d px until converged or step %d",
                                 scale_index + 1, len(scales), inputs.content_image.shape[1],
                                 inputs.content_image.shape[0], config.scale_ends[scale_index])
                while True:
                    try:
                        transfer, checkpoints, convergence = _start_scale(
                            config, inputs, feature_model, scale_index, tile_size, start, device)
                        if transfer.tiled is not None:
                            transfer.tiled.on_tile = _between_tiles(all_callbacks, stop)
                        train_until(config, inputs, transfer, checkpoints, convergence,
                                    all_callbacks, stop, end=config.scale_ends[scale_index],
                                    scale_index=scale_index)
                        break
                    except OutOfMemory as error:
                        tile_size = _smaller_tiles(inputs, tile_size, error)
                        if error.checkpointed:  # the scale goes on from where it stopped
                            start = None
                    # The failed transfer's buffers go before a smaller one is built.
                    transfer = checkpoints = convergence = None
                    gc.collect()
                start = (transfer.best_result(), int(transfer.step))
            failed = False
        finally:
            end_callbacks(all_callbacks, failed)
        result = scales[-1].present(transfer.best_result())
        outputs.write_outputs(config, scales[-1], result, steps=int(transfer.step))
    return result


def _start_scale(config: TransferConfig, inputs: PreparedInputs, feature_model: keras.Model,
                 scale_index: int, tile_size: Optional[int],
                 start: Optional[Tuple[np.ndarray, int]], device: devices.Device
                 ) -> Tuple[StyleTransfer, Checkpoints, Convergence]:
    """The transfer of a scale, whole or in `tile_size` tiles: from the coarser result
    `start` (image, step), upsampled, or else from this scale's checkpoint if it has one.
    Raises OutOfMemory when computing its targets runs out of memory."""
    checkpoint_dir = os.path.join(config.run_dir, run_directory.CHECKPOINT_DIR)
    convergence = Convergence(config.convergence_tolerance, config.convergence_window)
    # A GPU holds only the network and one tile; the machine keeps the image-sized state.
    state_device = "/CPU:0" if device.kind == "gpu" and tile_size is not None else None
    try:
        transfer = StyleTransfer.from_config(
            config, inputs, feature_model, None if start is None else inputs.upsampled(start[0]),
            tile_size=tile_size, state_device=state_device)
    except tf.errors.OpError as error:
        if not is_out_of_memory(error):
            raise
        raise OutOfMemory("computing the targets", inputs, tile_size, checkpointed=False) from None
    checkpoints = Checkpoints(checkpoint_dir, transfer, scale_index, config.max_checkpoints,
                              convergence)
    if start is None:
        checkpoints.restore_latest()
    else:
        transfer.step.assign(start[1])
    return transfer, checkpoints, convergence


def is_out_of_memory(error: tf.errors.OpError) -> bool:
    """Whether TensorFlow ran out of memory: an allocation failed, or (on a GPU) a copy to
    the device found no memory for its result."""
    return isinstance(error, tf.errors.ResourceExhaustedError) or (
        isinstance(error, tf.errors.InternalError)
        and "Dst tensor is not initialized" in str(error))


class OutOfMemory(TransferError):
    """A step or the targets of a scale ran out of memory; `checkpointed`: the run's state
    was saved first, so the scale goes on from its checkpoint."""

    def __init__(self, doing: str, inputs: PreparedInputs, tile_size: Optional[int],
                 checkpointed: bool, step: Optional[int] = None):
        height, width = inputs.content_image.shape[:2]
        self.checkpointed = checkpointed
        self.what = f"out of memory {doing} at {width}x{height} px " + (
            "whole" if tile_size is None else f"in tiles of {tile_size} px")
        self.saved = f"; checkpointed at step {step}" if checkpointed else ""
        super().__init__(f"{self.what}{self.saved}; free memory on the device or lower "
                         f"--size, then rerun the same command to resume")


def _smaller_tiles(inputs: PreparedInputs, tile_size: Optional[int], error: OutOfMemory) -> int:
    """The next smaller tiles after `error`, with a line saying so; TransferError when the
    smallest tiles ran out too."""
    height, width = inputs.content_image.shape[:2]
    smaller = memory.smaller_tile_size(height, width, tile_size)
    if smaller is None:
        raise TransferError(f"{error.what}, the smallest tiles{error.saved}; free memory on the "
                            f"device or lower --size, then rerun the same command to resume"
                            ) from None
    logging.warning("%s%s; going on in tiles of %d px", error.what[0].upper() + error.what[1:],
                    error.saved, smaller)
    return smaller


class _StepAbandoned(Exception):
    """A signal arrived inside a tiled step: the step is dropped, nothing was updated yet."""


def _between_tiles(callbacks: Sequence[Callback], stop: StopRequest) -> Callable[[int, int], None]:
    """What runs after each tile's pass: the callbacks' `on_tile_end`, then, if a signal
    came, the end of the step (a step of many tiles can take minutes)."""
    def on_tile(done: int, total: int) -> None:
        for callback in callbacks:
            callback.on_tile_end(done, total)
        if stop.signal_number is not None:
            raise _StepAbandoned()
    return on_tile


def end_callbacks(callbacks: Sequence[Callback], failed: bool) -> None:
    """Every callback's `on_run_end`; when the run has already failed, a callback's own
    failure (a full disk, say) is logged and does not hide the first one."""
    for callback in callbacks:
        try:
            callback.on_run_end()
        except Exception as error:  # noqa: BLE001
            if not failed:
                raise
            logging.warning("%s could not finish: %s", type(callback).__name__, error)


def train_until(config: TransferConfig, inputs: PreparedInputs, transfer: StyleTransfer,
                checkpoints: Checkpoints, convergence: Convergence, callbacks: Sequence[Callback],
                stop: StopRequest, end: int, scale_index: int = 0) -> None:
    """Steps until this scale has converged or reached `end`, reporting and checkpointing
    as it goes; the step that ends the scale is checkpointed.

    A non-finite loss or image never reaches a callback or a checkpoint: the run goes back
    to its last checkpoint (or this scale's start) and retries with half the step; if that
    fails too before the next checkpoint, the run stops with a TransferError.
    """
    step = int(transfer.step)
    if step >= config.iters and end == config.iters:  # said once, at the last scale
        logging.info("Run already has %d steps (--iters %d); writing its output", step, config.iters)
    # Where to go back to while this scale has no checkpoint of its own: image and step.
    start = (transfer.result(), step) if checkpoints.saved_step is None else None
    rolled_back_at = None
    while step < end and not convergence.converged():
        if stop.signal_number is not None:  # asked to stop before this scale's first step
            checkpoints.save_unless_saved()
            raise Interrupted(stop.signal_number, step)
        started = time.perf_counter()
        try:
            step_losses = {name: float(value) for name, value in transfer.train_step().items()}
        except _StepAbandoned:  # the image and optimizer are as the last step left them
            checkpoints.save_unless_saved()
            raise Interrupted(stop.signal_number, step) from None
        except tf.errors.OpError as error:
            # Out of memory in the network's passes: no variable was written yet.
            if not is_out_of_memory(error):
                raise
            checkpoints.save_unless_saved()
            raise OutOfMemory("in a step", inputs, transfer.tiled and transfer.tiled.tile_size,
                              checkpointed=True, step=step) from None
        seconds = time.perf_counter() - started
        step = int(transfer.step)
        if not (np.isfinite(step_losses["total"]) and bool(transfer.image_is_finite())):
            if rolled_back_at is not None:
                raise TransferError(
                    f"the loss became {step_losses['total']} at step {step}, again after going "
                    f"back to step {rolled_back_at} with half the step; lower --lr or "
                    f"--style_weight, or try another --optimizer")
            step = _roll_back(transfer, checkpoints, convergence, start, step_losses["total"], step)
            rolled_back_at = step
            continue
        convergence.update(step_losses["total"])
        if convergence.converged():
            logging.info("Converged at step %d: the loss fell by less than %g over %d steps",
                         step, config.convergence_tolerance, config.convergence_window)
            end = step
        report = StepReport(step, config.iters, step_losses, seconds, transfer, end, inputs.present,
                            scale_index=scale_index, scale_step=int(convergence.steps))
        for callback in callbacks:
            callback.on_step_end(report)
        if is_due(step, config.checkpoint_every, end):
            checkpoints.save()
            start, rolled_back_at = None, None
        if stop.signal_number is not None:
            checkpoints.save_unless_saved()
            raise Interrupted(stop.signal_number, step)


def _roll_back(transfer: StyleTransfer, checkpoints: Checkpoints, convergence: Convergence,
               start: Optional[Tuple[np.ndarray, int]], loss: float, step: int) -> int:
    """Back to the last checkpoint (or the scale's start) with half the step; returns the step."""
    if start is None:
        back_to = checkpoints.restore_saved()
    else:
        start_image, back_to = start
        transfer.restart(start_image)
        transfer.step.assign(back_to)
        convergence.reset()
    rate = transfer.halve_step()
    logging.warning("The loss became %s at step %d; going back to step %d with the learning "
                    "rate halved to %g", loss, step, back_to, rate)
    return back_to
