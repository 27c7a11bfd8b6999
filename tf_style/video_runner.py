"""A video run, top to bottom: the clip, a run session whose stages are its frames, the video.

Ruder, Dosovitskiy & Brox, "Artistic Style Transfer for Videos" (GCPR 2016): the first
frame runs as a picture does; each later frame starts from the previous stylised frame
warped along the optical flow and adds a temporal loss holding it to that warp where the
flow is reliable (tf_style.flow). We use the short-term term only (no long-term frames).
The style targets are computed once, from the first frame's inputs: with
--preserve_colors histogram the style is recoloured to the first frame's colours, which
keeps them from changing over the clip.

Each frame is a stage of the run session (tf_style.run_session), whole or in tiles as the
memory plan says; the frames share one transfer, moved on from frame to frame.

The run directory holds frames/frame_NNNNNN.png as each frame finishes and the frame in
progress's checkpoints, so a rerun resumes at that frame and step. The steps of frame k
are numbered from --iters + (k - 1) * --frame_iters on, so TensorBoard shows the frames
one after another. The video is written at the end, with the source's audio.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Optional, Sequence, Tuple

import numpy as np
from absl import logging

from tf_style import color, devices, flow, images, run_directory, run_identity, run_setup, video
from tf_style.callbacks import CallbackLike, ProgressBar
from tf_style.config import TransferConfig
from tf_style.errors import TransferError
from tf_style.inputs import PreparedInputs, prepare_frame, prepare_inputs
from tf_style.run_plan import Plan
from tf_style.run_session import RunSession, Stage, log_tiles, open_session
from tf_style.signals import Interrupted


def frame_start_step(config: TransferConfig, index: int) -> int:
    """The global step frame `index` (from 0) starts at."""
    return 0 if index == 0 else config.iters + (index - 1) * config.later_frame_iters


def plan_video(config: TransferConfig) -> Plan:
    """Reads the clip through and plans a frame (whole or in tiles, at --size); TransferError
    when the clip is bad or a frame does not fit even in tiles."""
    return _prepare(config, *run_setup.set_up_device(config))[2]


def _prepare(config: TransferConfig, device: devices.Device, precision: str
             ) -> Tuple[video.Clip, PreparedInputs, Plan]:
    run_setup.check_size_before_loading(config, device, precision)
    clip = video.open_clip(config.content, config.frames, config.fps,
                           config.max_image_megapixels * 1_000_000)
    flow.require_opencv()
    video.log_clip(clip)
    first = prepare_inputs(config, content=next(iter(
        clip.frames(config.size, config.max_image_megapixels * 1_000_000))))
    return clip, first, run_setup.plan_scales(config, [first], device, precision)


def run_video(config: TransferConfig, callbacks: Sequence[CallbackLike] = ()) -> str:
    """Runs (or resumes) a video style transfer; returns the path of the video written.

    Every frame runs at `config.size` (no coarse-to-fine), whole or in the plan's tiles.
    Raises TransferError for a clip, style or setting the user can fix, before the run
    directory is touched.
    """
    device, precision = run_setup.set_up_run(config)
    clip, first, run_plan = _prepare(config, device, precision)
    if config.scales:
        logging.info("--scales is for pictures: a video's frames run at --size %d", config.size)
    with open_session(config, first.original_content.shape[:2], _progress_bar(
            config, run_plan, clip.frame_count), callbacks, device, precision,
            record={"frames": clip.frame_count}) as session:
        _run_frames(session, clip, first, run_plan)
        session.finish()
        config = session.config
        output, run_dir = run_identity.output_path(config), run_identity.run_dir(config)
        logging.info("Writing %s", output)
        try:
            video.write_video(output, run_directory.finished_frames(run_dir, clip.frame_count),
                              clip.fps, audio_from=None if config.frames else config.content)
        except (OSError, video.import_av().FFmpegError) as error:
            raise TransferError(f"cannot write {output}: {error}") from None
        logging.info("Wrote %s: %d frames at %.3g fps", output, clip.frame_count, float(clip.fps))
    return output


def _progress_bar(config: TransferConfig, run_plan: Plan, frame_count: int) -> ProgressBar:
    """For the ETA: the first frame as a picture's first scale, each later one as a finer
    scale started from a coarser result (run_plan.Plan.expected_steps)."""
    first_expected = run_plan.expected_steps(config)[0]
    later_expected = config.later_frame_iters
    if config.stops_on_convergence:
        later_expected = min(later_expected,
                             max(config.convergence_window + 1, first_expected // 2))
    return ProgressBar(frame_start_step(config, frame_count), enabled=config.progress,
                       unit="frame",
                       scales=[(first_expected, 1.0)] + [(later_expected, 1.0)] * (frame_count - 1))


def _run_frames(session: RunSession, clip: video.Clip, first: PreparedInputs,
                run_plan: Plan) -> None:
    """Every frame not yet written, in order, each a stage of the session; the frame in
    progress resumes from its checkpoint."""
    config = session.config
    os.makedirs(os.path.join(run_identity.run_dir(config), run_directory.FRAME_DIR), exist_ok=True)
    done = len(run_directory.finished_frames(run_identity.run_dir(config), clip.frame_count))
    for index in range(done):  # left behind by a kill between a frame's image and this
        shutil.rmtree(_checkpoint_dir(config, index), ignore_errors=True)
    if done:
        logging.info("%d of %d frames were done before; resuming at frame %d", done,
                     clip.frame_count, done + 1)
    tile_size = run_plan.tile_size_at(0)
    if tile_size is not None:
        log_tiles(first, run_plan.scales[0].tiles, tile_size, run_plan.scales[0].peak_bytes,
                  run_plan.limit_bytes)
    previous_frame: Optional[np.ndarray] = None
    previous_result: Optional[np.ndarray] = None
    for index, frame in enumerate(_all_frames(clip, first, config)):
        if index >= done:
            if index == done > 0:  # resuming: the last frame written before
                previous_result = images.load_image(
                    run_directory.frame_file(run_identity.run_dir(config), index - 1))
            previous_result = _run_frame(session, index, frame, previous_frame,
                                         previous_result, first, tile_size)
            tile_size = session.transfer.evaluator.tile_size  # smaller, if it ran out
        previous_frame = frame
        if session.stop.signal_number is not None and index + 1 < clip.frame_count:
            raise Interrupted(session.stop.signal_number, int(session.transfer.step))


def _all_frames(clip: video.Clip, first: PreparedInputs, config: TransferConfig):
    """The clip's frames at their working size, the first as `first` has it."""
    yield first.original_content
    frames = clip.frames(config.size, config.max_image_megapixels * 1_000_000)
    next(frames)
    yield from frames


def _checkpoint_dir(config: TransferConfig, index: int) -> str:
    return os.path.join(run_identity.run_dir(config), run_directory.CHECKPOINT_DIR,
                        f"frame_{index + 1:06d}")


def _run_frame(session: RunSession, index: int, frame: np.ndarray,
               previous_frame: Optional[np.ndarray], previous_result: Optional[np.ndarray],
               first: PreparedInputs, tile_size: Optional[int]) -> np.ndarray:
    """One frame: set up from the previous stylised frame (as its PNG holds it), steps,
    then its PNG; returns the frame as read back from that PNG, for the next frame."""
    config = session.config
    started = time.perf_counter()
    inputs = first if index == 0 else prepare_frame(config, frame, first)
    initial, temporal, motion = inputs.initial_image, None, None
    if index > 0:
        motion = flow.motion(previous_frame, frame, config.flow)
        warped = motion.carry(previous_result)
        if config.preserve_colors == "luminance":
            warped = color.luminance_image(warped)
        if config.frame_init == "previous":
            # Where the flow is not reliable (revealed background, motion boundaries, new
            # picture at the frame's edge) the warp holds smeared or stretched strokes; we
            # start those pixels from the frame's own start image instead (the paper starts
            # from the warp everywhere; measured in benchmarks/video.py).
            initial = np.where(motion.mask[..., None] > 0, warped, initial).astype(np.float32)
        if config.temporal_weight != 0:
            temporal = (warped, motion.mask)
    start = frame_start_step(config, index)
    checkpoint_dir = _checkpoint_dir(config, index)
    transfer = session.run(Stage(
        index, inputs, first_step=start,
        end=start + (config.iters if index == 0 else config.later_frame_iters),
        checkpoint_dir=checkpoint_dir, tile_size=tile_size, start_image=initial,
        temporal=temporal, style_from=first))
    path = run_directory.frame_file(run_identity.run_dir(config), index)
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
