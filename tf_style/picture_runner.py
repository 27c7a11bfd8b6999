"""A picture run, top to bottom: inputs at every scale, the plan, weights, run directory,
the loop over scales (coarse to fine), outputs.

Each scale's `StyleTransfer` starts from the previous scale's result, upsampled; running
out of memory replans that scale in smaller tiles and goes on.
"""

from __future__ import annotations

import gc
import os
from typing import Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tf_style import devices, memory, outputs, run_directory, run_setup
from tf_style.callbacks import CallbackLike, ProgressBar
from tf_style.checkpoints import Checkpoints, checkpointed_scale
from tf_style.config import TransferConfig
from tf_style.convergence import Convergence
from tf_style.errors import TransferError
from tf_style.inputs import PreparedInputs, prepare_inputs
from tf_style.loop import (OutOfMemory, between_tiles, end_callbacks, is_out_of_memory,
                           train_until)
from tf_style.signals import stop_on_signals
from tf_style.transfer import StyleTransfer
from tf_style.run_plan import Plan


def plan_picture(config: TransferConfig) -> Plan:
    """Finds the device, loads the inputs at every scale and plans each scale: whole image
    or tiles, within the device's memory. Raises TransferError when they are bad or
    nothing fits."""
    device, precision = run_setup.set_up_device(config)
    run_setup.check_size_before_loading(config, device, precision)
    return run_setup.plan_scales(config, _prepare_scales(config), device, precision)


def _prepare_scales(config: TransferConfig) -> Tuple[PreparedInputs, ...]:
    return tuple(prepare_inputs(config, size) for size in config.scale_sizes)


def run_picture(config: TransferConfig, callbacks: Sequence[CallbackLike] = ()) -> np.ndarray:
    """Runs (or resumes) a picture until `config.iters` steps or convergence; returns it.

    With several `config.scale_sizes`, each scale starts from the previous one's result,
    upsampled; the step counter runs on across scales. Nothing in an existing run
    directory is touched until the inputs (at every scale), weights and settings have all
    been checked.
    """
    device, precision = run_setup.set_up_run(config)
    run_setup.check_size_before_loading(config, device, precision)
    scales = _prepare_scales(config)
    run_plan = run_setup.plan_scales(config, scales, device, precision)
    config, weights_source, feature_model = run_setup.load_network(config, precision)
    record = run_directory.run_record(
        config, scales[-1].original_content.shape[:2], weights_source.identity(), precision)
    with run_setup.claimed_run_directory(config, record, weights_source, device, precision):
        return _run_claimed(config, scales, run_plan, feature_model, callbacks, device)


def _run_claimed(config: TransferConfig, scales: Sequence[PreparedInputs], run_plan: Plan,
                 feature_model: keras.Model, callbacks: Sequence[CallbackLike],
                 device: devices.Device) -> np.ndarray:
    """The loop over scales and the outputs, in a run directory this process holds.

    From here on SIGINT/SIGTERM stop the run at the next step boundary, checkpointed.
    """
    checkpoint_dir = os.path.join(config.run_dir, run_directory.CHECKPOINT_DIR)
    with stop_on_signals() as stop:
        expected_steps = run_plan.expected_steps(config)
        progress_bar = ProgressBar(config.iters, enabled=config.progress, scales=[
            (steps, scale.seconds_per_step)
            for steps, scale in zip(expected_steps, run_plan.scales)])
        all_callbacks = run_setup.make_callbacks(config, progress_bar, callbacks)
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
                            transfer.tiled.on_tile = between_tiles(all_callbacks, stop)
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
                # One forward pass decides it (at 8K in tiles, minutes): kept for the output.
                start = (transfer.best_result(), int(transfer.step))
            failed = False
        finally:
            end_callbacks(all_callbacks, failed)
        result = scales[-1].present(start[0])
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
