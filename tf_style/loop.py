"""The loop that steps one transfer: until it converges or reaches its end, reporting each
step to the callbacks and checkpointing; a non-finite step is rolled back, and running out
of memory or a signal ends it with the run's state saved."""

from __future__ import annotations

import time
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from tf_style.callbacks import Callback, StepReport, is_due
from tf_style.checkpoints import Checkpoints
from tf_style.config import TransferConfig
from tf_style.convergence import Convergence
from tf_style.errors import TransferError
from tf_style.inputs import PreparedInputs
from tf_style.signals import Interrupted, StopRequest
from tf_style.transfer import StyleTransfer


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


class StepAbandoned(Exception):
    """A signal arrived inside a tiled step: the step is dropped, nothing was updated yet."""


def between_tiles(callbacks: Sequence[Callback], stop: StopRequest) -> Callable[[int, int], None]:
    """What runs after each tile's pass: the callbacks' `on_tile_end`, then, if a signal
    came, the end of the step (a step of many tiles can take minutes)."""
    def on_tile(done: int, total: int) -> None:
        for callback in callbacks:
            callback.on_tile_end(done, total)
        if stop.signal_number is not None:
            raise StepAbandoned()
    return on_tile


def end_callbacks(callbacks: Sequence[Callback], failed: bool) -> None:
    """Every callback's `on_run_end`; when the run has already failed, a callback's own
    failure (a full disk, say) is logged and does not hide the first one."""
    for callback in callbacks:
        try:
            callback.on_run_end()
        except Exception as error:
            if not failed:
                raise
            logging.warning("%s could not finish: %s", type(callback).__name__, error)


def train_until(config: TransferConfig, inputs: PreparedInputs, transfer: StyleTransfer,
                checkpoints: Checkpoints, convergence: Convergence, callbacks: Sequence[Callback],
                stop: StopRequest, end: int, scale_index: int = 0,
                total: Optional[int] = None) -> None:
    """Steps until this scale has converged or reached `end`, reporting and checkpointing
    as it goes; the step that ends the scale is checkpointed. `total`: the run's steps in
    all (default `config.iters`; a video's frames add up to more).

    A non-finite loss or image never reaches a callback or a checkpoint: the run goes back
    to its last checkpoint (or this scale's start) and retries with half the step; if that
    fails too before the next checkpoint, the run stops with a TransferError.
    """
    total = config.iters if total is None else total
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
        step_losses = _take_step(transfer, checkpoints, inputs, stop, step)
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
        convergence.update(step_losses["total"], transfer.image)
        if convergence.converged():
            logging.info("Converged at step %d: %s", step, convergence.why())
            end = step
        report = StepReport(step, total, step_losses, seconds, transfer, end, inputs.present,
                            scale_index=scale_index, scale_step=int(convergence.steps))
        for callback in callbacks:
            callback.on_step_end(report)
        if is_due(step, config.checkpoint_every, end):
            checkpoints.save()
            start, rolled_back_at = None, None
        if stop.signal_number is not None:
            checkpoints.save_unless_saved()
            raise Interrupted(stop.signal_number, step)


def _take_step(transfer: StyleTransfer, checkpoints: Checkpoints, inputs: PreparedInputs,
               stop: StopRequest, step: int) -> Dict[str, float]:
    """One train step's losses; a signal inside a tiled step or running out of memory ends
    the run with its state as the last step left it, checkpointed."""
    try:
        return {name: float(value) for name, value in transfer.train_step().items()}
    except StepAbandoned:  # the image and optimizer are as the last step left them
        checkpoints.save_unless_saved()
        raise Interrupted(stop.signal_number, step) from None
    except tf.errors.OpError as error:
        # Out of memory in the network's passes: no variable was written yet.
        if not is_out_of_memory(error):
            raise
        checkpoints.save_unless_saved()
        raise OutOfMemory("in a step", inputs, transfer.evaluator.tile_size,
                          checkpointed=True, step=step) from None


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
    rate = transfer.halve_learning_rate()
    logging.warning("The loss became %s at step %d; going back to step %d with the learning "
                    "rate halved to %g", loss, step, back_to, rate)
    return back_to
