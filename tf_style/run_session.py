"""One run session, shared by pictures and videos: the network and the claimed run
directory, the callbacks and the signals, then a loop over *stages* (a picture's scales, a
video's frames), each with its own targets, step budget and checkpoints.

    with open_session(config, ...) as session:       # network, run directory, callbacks
        for stage in stages:                           # scales or frames
            transfer = session.run(stage)              # steps until converged or its end
            ...                                        # the runner keeps its result

A stage runs whole or in tiles, as the memory plan says; running out of memory replans it
in smaller tiles and goes on from its checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from typing import Iterator, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tf_style import devices, memory, run_directory, run_setup
from tf_style.callbacks import Callback, CallbackLike, ProgressBar
from tf_style.checkpoints import Checkpoints
from tf_style.config import TransferConfig
from tf_style.convergence import Convergence
from tf_style.errors import TransferError
from tf_style.inputs import PreparedInputs
from tf_style.loop import OutOfMemory, between_tiles, end_callbacks, is_out_of_memory, train_until
from tf_style.signals import StopRequest, stop_on_signals
from tf_style.transfer import StyleTransfer


@dataclasses.dataclass(frozen=True)
class Stage:
    """A stretch of steps with its own targets and step budget: a picture's scale or a
    video's frame.

    It starts at global step `first_step` from `start_image` (None: its inputs' own start),
    or, when `resume`, from the latest checkpoint in `checkpoint_dir` if there is one; it
    ends at step `end` or on convergence. A video frame has `temporal`: the previous result
    warped along the flow and where the flow is reliable (None for the first frame), and
    takes its style targets from `style_from`, the first frame's inputs.
    """

    index: int
    inputs: PreparedInputs
    first_step: int
    end: int
    checkpoint_dir: str
    tile_size: Optional[int] = None
    start_image: Optional[np.ndarray] = None
    resume: bool = True
    temporal: Optional[Tuple[np.ndarray, np.ndarray]] = None
    style_from: Optional[PreparedInputs] = None
    style_weight: Optional[float] = None  # None: the config's


class RunSession:
    """The state a run keeps across its stages: the network, the device, the callbacks, the
    stop request and the transfer of the last stage (a video moves it on to the next frame,
    keeping its compiled step)."""

    def __init__(self, config: TransferConfig, feature_model: keras.Model, device: devices.Device,
                 callbacks: Sequence[Callback], stop: StopRequest, total_steps: int):
        self.config = config
        self.total_steps = total_steps
        self.feature_model = feature_model
        self.device = device
        self.callbacks = list(callbacks)
        self.stop = stop
        self.transfer: Optional[StyleTransfer] = None
        self.finished = False

    def finish(self) -> None:
        """Every callback's `on_run_end`, once the stages are done; outputs come after."""
        self.finished = True
        end_callbacks(self.callbacks, failed=False)

    def run(self, stage: Stage) -> StyleTransfer:
        """Steps `stage` until it converges or reaches its end; returns its transfer."""
        tile_size = stage.tile_size
        while True:
            try:
                transfer, checkpoints, convergence = self._start(stage, tile_size)
                train_until(self.config, stage.inputs, transfer, checkpoints, convergence,
                            self.callbacks, self.stop, end=stage.end, scale_index=stage.index,
                            total=self.total_steps)
                return transfer
            except OutOfMemory as error:
                tile_size = _smaller_tiles(stage.inputs, tile_size, error)
                if error.checkpointed:  # the stage goes on from where it stopped
                    stage = dataclasses.replace(stage, resume=True)
            # The failed transfer's buffers go before a smaller one is built.
            self.transfer = transfer = checkpoints = convergence = None
            gc.collect()

    def _start(self, stage: Stage, tile_size: Optional[int]
               ) -> Tuple[StyleTransfer, Checkpoints, Convergence]:
        """The stage's transfer, whole or in `tile_size` tiles, at its start or checkpoint.
        Raises OutOfMemory when computing its targets runs out of memory."""
        try:
            transfer = self._transfer_for(stage, tile_size)
        except tf.errors.OpError as error:
            if not is_out_of_memory(error):
                raise
            raise OutOfMemory("computing the targets", stage.inputs, tile_size,
                              checkpointed=False) from None
        if tile_size is not None:
            transfer.evaluator.on_tile = between_tiles(self.callbacks, self.stop)
        with transfer.crops.on_state_device():
            convergence = Convergence(self.config.convergence_tolerance,
                                      self.config.convergence_window,
                                      self.config.convergence_change, transfer.image.shape)
        checkpoints = Checkpoints(stage.checkpoint_dir, transfer, stage.index,
                                  self.config.max_checkpoints, convergence)
        if not (stage.resume and checkpoints.restore_latest()):
            transfer.step.assign(stage.first_step)
        return transfer, checkpoints, convergence

    def _transfer_for(self, stage: Stage, tile_size: Optional[int]) -> StyleTransfer:
        """A new transfer for a picture's scale; for a video's frame, the last one moved on
        to it (its compiled step kept) when it has the same size and tiles."""
        inputs = stage.inputs
        start = inputs.initial_image if stage.start_image is None else stage.start_image
        previous = self.transfer
        if not (self.config.is_video and previous is not None
                and previous.evaluator.tile_size == tile_size
                and previous.image.shape[1:3] == inputs.content_image.shape[:2]):
            self.transfer = previous = None
            gc.collect()
            # A GPU holds only the network and one tile; the machine keeps the image-sized state.
            state_device = "/CPU:0" if self.device.kind == "gpu" and tile_size is not None else None
            config = (self.config if stage.style_weight is None
                      else dataclasses.replace(self.config, style_weight=stage.style_weight))
            self.transfer = StyleTransfer.from_config(
                config, stage.style_from or inputs, self.feature_model, start,
                tile_size=tile_size, state_device=state_device)
        if self.config.is_video:
            warped, reliable = stage.temporal or (None, None)
            self.transfer.next_frame(inputs.content_image, start, warped, reliable,
                                     self.config.learning_rate)
        return self.transfer


@contextlib.contextmanager
def open_session(config: TransferConfig, content_shape: Tuple[int, int],
                 progress_bar: ProgressBar, callbacks: Sequence[CallbackLike],
                 device: devices.Device, precision: str, record: Optional[dict] = None
                 ) -> Iterator[RunSession]:
    """The run's network, its run directory claimed for this run (`record` adds to what
    run.json says of it), and from then on the callbacks and SIGINT/SIGTERM stopping the
    run at the next step boundary, checkpointed. Every callback's `on_run_end` runs at
    `finish` or at the end, after a failure too. The session's config has the defaults of
    the network's weights."""
    config, weights_source, feature_model = run_setup.load_network(config, precision)
    record = {**run_directory.run_record(config, content_shape, weights_source.identity(),
                                         precision), **(record or {})}
    with run_setup.claimed_run_directory(config, record, weights_source, device, precision):
        with stop_on_signals() as stop:
            session = RunSession(config, feature_model, device,
                                 run_setup.make_callbacks(config, progress_bar, callbacks), stop,
                                 progress_bar.iters)
            try:
                yield session
            except BaseException:
                if not session.finished:
                    end_callbacks(session.callbacks, failed=True)
                raise
            if not session.finished:
                session.finish()


def log_tiles(inputs: PreparedInputs, tiles: int, tile_size: int, peak_bytes: float,
              limit_bytes: float) -> None:
    """The line that says a stage runs in tiles, and why."""
    logging.info("%dx%d px in %d tiles of %d px (est. peak %.1f GB of %.1f GB)",
                 inputs.content_image.shape[1], inputs.content_image.shape[0], tiles, tile_size,
                 peak_bytes / memory.GB, limit_bytes / memory.GB)


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
