"""A video run, top to bottom: the clip, one transfer moved from frame to frame, the video.

Ruder, Dosovitskiy & Brox, "Artistic Style Transfer for Videos" (GCPR 2016): the first
frame runs as a picture does; each later frame starts from the previous stylised frame
warped along the optical flow and adds a temporal loss holding it to that warp where the
flow is reliable (tf_style.flow). We use the short-term term only (no long-term frames).
The style targets are computed once, from the first frame's inputs: with
--preserve_colors histogram the style is recoloured to the first frame's colours, which
keeps them from changing over the clip.

The run directory holds frames/frame_NNNNNN.png as each frame finishes and the frame in
progress's checkpoints, so a rerun resumes at that frame and step. The steps of frame k
are numbered from --iters + (k - 1) * --frame_iters on, so TensorBoard shows the frames
one after another. The video is written at the end, with the source's audio.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from typing import Optional, Sequence, Tuple

import keras
import numpy as np
from absl import logging

from tf_style import color, devices, flow, images, run_directory, run_setup, video
from tf_style.callbacks import Callback, CallbackLike, ProgressBar
from tf_style.checkpoints import Checkpoints
from tf_style.config import TransferConfig
from tf_style.convergence import Convergence
from tf_style.errors import TransferError
from tf_style.inputs import PreparedInputs, prepare_frame, prepare_inputs
from tf_style.loop import end_callbacks, train_until
from tf_style.signals import Interrupted, stop_on_signals
from tf_style.transfer import StyleTransfer
from tf_style.run_plan import Plan


def frame_start_step(config: TransferConfig, index: int) -> int:
    """The global step frame `index` (from 0) starts at."""
    return 0 if index == 0 else config.iters + (index - 1) * config.later_frame_iters


def plan_video(config: TransferConfig) -> Plan:
    """Reads the clip through and plans a frame (whole, at --size); TransferError when the
    clip is bad or a frame does not fit."""
    return _prepare(config, *run_setup.set_up_device(config))[2]


def _prepare(config: TransferConfig, device: devices.Device, precision: str
             ) -> Tuple[video.Clip, PreparedInputs, Plan]:
    clip = video.open_clip(config.content, config.frames, config.fps,
                           config.max_image_megapixels * 1_000_000)
    flow.require_opencv()
    video.log_clip(clip)
    first = prepare_inputs(config, content=next(iter(
        clip.frames(config.size, config.max_image_megapixels * 1_000_000))))
    run_plan = run_setup.plan_scales(config, [first], device, precision)
    if run_plan.tile_size_at(0) is not None or config.tile_size:
        raise TransferError(
            f"a {first.content_image.shape[1]}x{first.content_image.shape[0]} px frame does not "
            f"fit --memory_limit whole, and video frames do not run in tiles; lower --size")
    return clip, first, run_plan


def run_video(config: TransferConfig, callbacks: Sequence[CallbackLike] = ()) -> str:
    """Runs (or resumes) a video style transfer; returns the path of the video written.

    Every frame runs whole (no tiles) at `config.size` (no coarse-to-fine). Raises
    TransferError for a clip, style or setting the user can fix, before the run directory
    is touched.
    """
    device, precision = run_setup.set_up_run(config)
    clip, first, run_plan = _prepare(config, device, precision)
    if config.scales:
        logging.info("--scales is for pictures: a video's frames run at --size %d", config.size)
    config, weights_source, feature_model = run_setup.load_network(config, precision)
    record = run_directory.run_record(
        config, first.original_content.shape[:2], weights_source.identity(), precision)
    record["frames"] = clip.frame_count
    with run_setup.claimed_run_directory(config, record, weights_source, device, precision):
        _run_frames(config, clip, first, run_plan, feature_model, callbacks)
        logging.info("Writing %s", config.output_path)
        try:
            video.write_video(
                config.output_path, run_directory.finished_frames(config.run_dir, clip.frame_count),
                clip.fps, audio_from=None if config.frames else config.content)
        except (OSError, video.import_av().FFmpegError) as error:
            raise TransferError(f"cannot write {config.output_path}: {error}") from None
        logging.info("Wrote %s: %d frames at %.3g fps", config.output_path, clip.frame_count,
                     float(clip.fps))
    return config.output_path


def _run_frames(config: TransferConfig, clip: video.Clip, first: PreparedInputs,
                run_plan: Plan, feature_model: keras.Model,
                callbacks: Sequence[CallbackLike]) -> None:
    """Every frame not yet written, in order; the frame in progress resumes from its
    checkpoint. SIGINT/SIGTERM stop at the next step, checkpointed."""
    os.makedirs(os.path.join(config.run_dir, run_directory.FRAME_DIR), exist_ok=True)
    done = len(run_directory.finished_frames(config.run_dir, clip.frame_count))
    for index in range(done):  # left behind by a kill between a frame's image and this
        shutil.rmtree(_checkpoint_dir(config, index), ignore_errors=True)
    total_steps = frame_start_step(config, clip.frame_count)
    frame_config = dataclasses.replace(config, iters=total_steps)
    # For the ETA: the first frame as a picture's first scale, each later one as a finer
    # scale started from a coarser result (run_plan.Plan.expected_steps).
    first_expected = run_plan.expected_steps(config)[0]
    later_expected = config.later_frame_iters
    if config.convergence_tolerance > 0:
        later_expected = min(later_expected,
                             max(config.convergence_window + 1, first_expected // 2))
    with stop_on_signals() as stop:
        progress_bar = ProgressBar(
            total_steps, enabled=config.progress, unit="frame",
            scales=[(first_expected, 1.0)] + [(later_expected, 1.0)] * (clip.frame_count - 1))
        all_callbacks = run_setup.make_callbacks(config, progress_bar, callbacks)
        if done:
            logging.info("%d of %d frames were done before; resuming at frame %d", done,
                         clip.frame_count, done + 1)
        transfer = StyleTransfer.from_config(config, first, feature_model)
        failed = True
        try:
            previous_frame: Optional[np.ndarray] = None
            previous_result: Optional[np.ndarray] = None
            for index, frame in enumerate(_all_frames(clip, first, config)):
                if index >= done:
                    if index == done > 0:  # resuming: the last frame written before
                        previous_result = images.load_image(
                            run_directory.frame_file(config.run_dir, index - 1))
                    previous_result = _run_frame(
                        frame_config, config, transfer, index, frame, previous_frame,
                        previous_result, first, all_callbacks, stop)
                previous_frame = frame
                if stop.signal_number is not None and index + 1 < clip.frame_count:
                    raise Interrupted(stop.signal_number, int(transfer.step))
            failed = False
        finally:
            end_callbacks(all_callbacks, failed)


def _all_frames(clip: video.Clip, first: PreparedInputs, config: TransferConfig):
    """The clip's frames at their working size, the first as `first` has it."""
    yield first.original_content
    frames = clip.frames(config.size, config.max_image_megapixels * 1_000_000)
    next(frames)
    yield from frames


def _checkpoint_dir(config: TransferConfig, index: int) -> str:
    return os.path.join(config.run_dir, run_directory.CHECKPOINT_DIR, f"frame_{index + 1:06d}")


def _run_frame(frame_config: TransferConfig, config: TransferConfig, transfer: StyleTransfer,
               index: int, frame: np.ndarray, previous_frame: Optional[np.ndarray],
               previous_result: Optional[np.ndarray], first: PreparedInputs,
               callbacks: Sequence[Callback], stop) -> np.ndarray:
    """One frame: set up from the previous stylised frame (as its PNG holds it), steps,
    then its PNG; returns the frame as read back from that PNG, for the next frame."""
    started = time.perf_counter()
    inputs = first if index == 0 else prepare_frame(config, frame, first)
    warped = reliable = None
    initial = inputs.initial_image
    if index > 0:
        motion = flow.motion(previous_frame, frame, config.flow)
        warped = motion.carry(previous_result)
        if config.preserve_colors == "luminance":
            warped = color.luminance_image(warped)
        reliable = motion.mask
        if config.frame_init == "previous":
            # Where the flow is not reliable (revealed background, motion boundaries, new
            # picture at the frame's edge) the warp holds smeared or stretched strokes; we
            # start those pixels from the frame's own start image instead (the paper starts
            # from the warp everywhere; measured in benchmarks/video.py).
            initial = np.where(reliable[..., None] > 0, warped, initial).astype(np.float32)
        if config.temporal_weight == 0:
            warped = reliable = None
    transfer.next_frame(inputs.content_image, initial, warped, reliable, config.learning_rate)
    start = frame_start_step(config, index)
    transfer.step.assign(start)
    end = start + (config.iters if index == 0 else config.later_frame_iters)
    convergence = Convergence(config.convergence_tolerance, config.convergence_window)
    checkpoint_dir = _checkpoint_dir(config, index)
    checkpoints = Checkpoints(checkpoint_dir, transfer, index, config.max_checkpoints, convergence)
    checkpoints.restore_latest()
    train_until(frame_config, inputs, transfer, checkpoints, convergence, callbacks, stop,
                end=end, scale_index=index)
    path = run_directory.frame_file(config.run_dir, index)
    images.save_image(path, inputs.present(transfer.best_result()))
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    result = images.load_image(path)  # rounded to 8 bits: the same whether resumed or not
    flicker = ""
    if index > 0:
        change = flow.frame_flicker(result, previous_result, motion)
        flicker = f", flicker {change:.3g} (mean squared change on {motion.mask.mean():.0%} " \
                  f"reliable pixels)"
    logging.info("Frame %d: %d steps in %.1f s%s", index + 1, int(transfer.step) - start,
                 time.perf_counter() - started, flicker)
    return result
