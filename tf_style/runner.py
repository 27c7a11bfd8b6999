"""A whole run: inputs, run directory, checkpoints, TensorBoard summaries and outputs.

Layout of a run directory:
    run.json                 what produced this run (compared on resume)
    checkpoints/             tf.train.CheckpointManager: image, optimizer state, step
    events.out.tfevents.*    TensorBoard scalars, images and the train-step graph
    images/step_NNNNNN.png   intermediate images every --save_every steps
    output.png               the final image (unless --output says elsewhere)
    progress.gif, sheet.png  with --gif and --sheet
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import glob
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, Iterator, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tf_style import color, images, vgg, weights
from tf_style.files import atomic_write, file_digest
from tf_style.config import TransferConfig
from tf_style.errors import TransferError
from tf_style.transfer import StyleTransfer

RUN_RECORD = "run.json"
CHECKPOINT_DIR = "checkpoints"
IMAGE_DIR = "images"
GIF_FILE = "progress.gif"
SHEET_FILE = "sheet.png"


class RunDirectoryError(TransferError):
    """A run directory that can't be written, or that holds a different run."""


class Interrupted(TransferError):
    """The run stopped on SIGINT/SIGTERM after writing a checkpoint."""

    def __init__(self, signal_number: int, step: int):
        self.signal_number = signal_number
        self.step = step
        super().__init__(
            f"stopped by {signal.Signals(signal_number).name} at step {step}; checkpoint "
            f"saved, rerun the same command to continue")


@dataclasses.dataclass(frozen=True)
class StepReport:
    """What a callback sees after each step. `losses` are those of the image before it."""

    step: int
    iters: int
    losses: Dict[str, float]
    seconds_per_step: float
    transfer: StyleTransfer


StepCallback = Callable[[StepReport], None]


@dataclasses.dataclass(frozen=True)
class PreparedInputs:
    """The images at one scale as the optimisation sees them, and what is needed to show its result."""

    content_image: np.ndarray  # what the content loss matches (luminance only, in that mode)
    style_images: Tuple[np.ndarray, ...]  # recoloured or luminance-only, with --preserve_colors
    initial_image: np.ndarray
    content_masks: Optional[Tuple[np.ndarray, ...]]
    style_masks: Optional[Tuple[np.ndarray, ...]]
    original_content: np.ndarray
    original_styles: Tuple[np.ndarray, ...]
    preserve_colors: Optional[str]

    def present(self, image: np.ndarray) -> np.ndarray:
        """The optimised image as a person sees it: with luminance transfer, in the photo's colours."""
        if self.preserve_colors == "luminance":
            return color.with_content_colors(image, self.original_content)
        return image

    def upsampled(self, image: np.ndarray) -> np.ndarray:
        """A coarser scale's result brought to this scale's size: the start of this scale."""
        height, width = self.content_image.shape[:2]
        return images.resize(image, (width, height))


def prepare_inputs(config: TransferConfig, size: Optional[int] = None) -> PreparedInputs:
    """Loads the images and masks at `size` (default `config.size`); touches no run directory."""
    size = size or config.size
    original_content = images.resize_longest_side(
        _load_checked(config.content, "content image"), size)
    images.check_size(original_content, f"content image {config.content} at {size} px")
    content_height, content_width = original_content.shape[:2]
    style_longest = max(1, round(max(content_height, content_width) * config.style_scale))
    original_styles = []
    for path in config.style:
        style_image = images.resize_longest_side(_load_checked(path, "style image"), style_longest)
        images.check_size(style_image, f"style image {path} at --style_scale {config.style_scale} "
                                       f"and {size} px")
        original_styles.append(style_image)

    content_image, style_images = original_content, original_styles
    if config.preserve_colors == "histogram":
        style_images = [color.match_color_histogram(s, original_content) for s in original_styles]
    elif config.preserve_colors == "luminance":
        content_image = color.luminance_image(original_content)
        style_images = [color.match_luminance(s, original_content) for s in original_styles]

    content_masks = tuple(_load_mask(path, original_content) for path in config.content_mask)
    style_masks = tuple(_load_mask(path, s) for path, s in zip(config.style_mask, style_images))
    initial_image = _initial_image(config, content_image, style_images[0])
    if config.preserve_colors == "luminance":
        initial_image = color.luminance_image(initial_image)
    return PreparedInputs(
        content_image, tuple(style_images), initial_image, content_masks or None,
        style_masks or None, original_content, tuple(original_styles), config.preserve_colors)


def run_record(config: TransferConfig, inputs: PreparedInputs,
               weights_source: weights.WeightsSource) -> dict:
    """What decides the result of a run (`inputs` at full size): written as run.json, compared on resume."""
    return {
        "settings": config.result_settings(),
        "content_sha256": file_digest(config.content),
        "style_sha256": [file_digest(path) for path in config.style],
        "content_masks_sha256": [file_digest(path) for path in config.content_mask],
        "style_masks_sha256": [file_digest(path) for path in config.style_mask],
        "image_size": list(inputs.original_content.shape[:2]),
        "weights": weights_source.identity(),
    }


def _load_checked(path: str, what: str) -> np.ndarray:
    """Loads an image and refuses one too small to say anything to VGG19, before resizing."""
    image = images.load_image(path)
    images.check_size(image, f"{what} {path}")
    return image


def _load_mask(path: str, like: np.ndarray) -> np.ndarray:
    mask = images.load_mask(path, (like.shape[1], like.shape[0]))
    if mask.max() < 0.5:
        raise images.ImageError(f"mask {path} marks no region (it has no white area)")
    return mask


def _initial_image(config: TransferConfig, content_image: np.ndarray,
                   style_image: np.ndarray) -> np.ndarray:
    size = (content_image.shape[1], content_image.shape[0])
    noise = np.random.default_rng(config.seed).uniform(0.0, 255.0, content_image.shape)
    if config.init == "noise":
        return noise.astype(np.float32)
    if config.init == "content":
        start = content_image
    elif config.init == "style":
        start = images.resize(style_image, size)
    else:  # anything else names an image file (e.g. an earlier result to start from)
        start = images.resize(images.load_image(config.init), size)
    ratio = config.init_noise_ratio
    return ((1.0 - ratio) * start + ratio * noise).astype(np.float32)


def run(config: TransferConfig, callbacks: Sequence[StepCallback] = ()) -> np.ndarray:
    """Runs (or resumes) a style transfer until `config.iters` steps; returns the image.

    With several `config.scale_sizes`, each scale starts from the previous one's result,
    upsampled; the step counter runs on across scales. Raises TransferError for anything
    the user can fix; nothing in an existing run directory is touched until the inputs
    (at every scale), weights and settings have all been checked.
    """
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    scales = tuple(prepare_inputs(config, size) for size in config.scale_sizes)
    weights_source = weights.resolve_weights(config.weights, config.weights_dir, config.seed)
    record = run_record(config, scales[-1], weights_source)
    feature_model = vgg.build_vgg19(
        config.content_layers + config.style_layers, pooling=config.pooling)
    weights.load_weights(feature_model, weights_source)
    run_dir = config.run_dir
    _claim_run_directory(run_dir, record, config.overwrite)
    logging.info("Run directory %s; %s", run_dir, weights_source.describe())

    checkpoint_dir = os.path.join(run_dir, CHECKPOINT_DIR)
    first_scale = _checkpointed_scale(checkpoint_dir)
    writer = tf.summary.create_file_writer(run_dir)
    progress = ProgressBar(config.iters, enabled=config.progress)
    transfer = None
    try:
        with _stop_on_signals() as stop:
            for scale_index in range(first_scale, len(scales)):
                inputs = scales[scale_index]
                if transfer is None:
                    transfer = _build_transfer(config, inputs, feature_model, inputs.initial_image)
                    manager = _checkpoint_manager(config, transfer, scale_index, checkpoint_dir)
                    if manager.latest_checkpoint:
                        manager.checkpoint.restore(
                            manager.latest_checkpoint).assert_existing_objects_matched()
                        logging.info("Resumed from %s at step %d", manager.latest_checkpoint,
                                     int(transfer.step))
                    with writer.as_default():
                        tf.summary.graph(transfer.train_step.get_concrete_function().graph)
                else:
                    step = int(transfer.step)
                    transfer = _build_transfer(config, inputs, feature_model,
                                               inputs.upsampled(transfer.result()))
                    transfer.step.assign(step)
                    manager = _checkpoint_manager(config, transfer, scale_index, checkpoint_dir)
                if len(scales) > 1:
                    logging.info("Scale %d/%d: %dx%d px until step %d", scale_index + 1,
                                 len(scales), inputs.content_image.shape[1],
                                 inputs.content_image.shape[0], config.scale_ends[scale_index])
                _train(config, inputs, transfer, manager, writer, progress, callbacks, stop,
                       end=config.scale_ends[scale_index])
    finally:
        progress.close()
        writer.close()
    result = scales[-1].present(transfer.result())
    images.save_image(config.output_path, result)
    logging.info("Wrote %s after %d steps", config.output_path, int(transfer.step))
    if config.gif:
        _write_gif(config, result)
    if config.sheet:
        _write_sheet(config, scales[-1], result)
    return result


def _checkpoint_manager(config: TransferConfig, transfer: StyleTransfer, scale_index: int,
                        directory: str) -> tf.train.CheckpointManager:
    """Checkpoints hold the image, optimizer state, step and the index of the scale they are at."""
    checkpoint = tf.train.Checkpoint(
        image=transfer.image, optimizer=transfer.optimizer, step=transfer.step,
        scale=tf.Variable(scale_index, dtype=tf.int64, name="scale"))
    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=config.max_checkpoints)


def _checkpointed_scale(directory: str) -> int:
    """The scale the latest checkpoint was taken at (0 for none): it fixes the image's shape."""
    latest = tf.train.latest_checkpoint(directory)
    if latest is None:
        return 0
    reader = tf.train.load_checkpoint(latest)
    key = "scale/.ATTRIBUTES/VARIABLE_VALUE"
    return int(reader.get_tensor(key)) if reader.has_tensor(key) else 0


def _build_transfer(config: TransferConfig, inputs: PreparedInputs, feature_model: keras.Model,
                    initial_image: np.ndarray) -> StyleTransfer:
    return StyleTransfer(
        feature_model, inputs.content_image, inputs.style_images, initial_image,
        content_layers=config.content_layers, style_layers=config.style_layers,
        style_layer_weights=config.normalized_style_layer_weights,
        content_weight=config.content_weight, style_weight=config.style_weight,
        tv_weight=config.tv_weight, optimizer=config.optimizer, learning_rate=config.learning_rate,
        lbfgs_history=config.lbfgs_history,
        style_blend=config.normalized_style_blend, content_masks=inputs.content_masks,
        style_masks=inputs.style_masks)


def _write_gif(config: TransferConfig, result: np.ndarray) -> None:
    """The run's progression from its --save_every images, ending on the result."""
    frame_paths = sorted(glob.glob(os.path.join(config.run_dir, IMAGE_DIR, "step_*.png")))
    frames = [images.load_image(path) for path in frame_paths]
    frames = [frame for frame in frames if frame.shape == result.shape]
    if not frames or not np.array_equal(frames[-1], images.to_uint8(result)):
        frames.append(result)
    gif_path = os.path.join(config.run_dir, GIF_FILE)
    images.save_gif(gif_path, frames)
    logging.info("Wrote %s (%d frames)", gif_path, len(frames))


def _write_sheet(config: TransferConfig, inputs: PreparedInputs, result: np.ndarray) -> None:
    """content | style(s) | result at the result's height."""
    sheet_path = os.path.join(config.run_dir, SHEET_FILE)
    pictures = [inputs.original_content, *inputs.original_styles, result]
    images.save_image(sheet_path, images.side_by_side(pictures, height=result.shape[0]))
    logging.info("Wrote %s", sheet_path)


def _train(config: TransferConfig, inputs: PreparedInputs, transfer: StyleTransfer,
           manager: tf.train.CheckpointManager, writer, progress: "ProgressBar",
           callbacks: Sequence[StepCallback], stop: "_SignalFlag", end: int) -> None:
    """Steps until `end` (the end of this scale), saving, summarising and reporting as it goes."""
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
        progress.update(step, step_losses, seconds)
        if step % config.summary_every == 0 or step == end:
            _write_summaries(writer, inputs.present(transfer.result()), step, step_losses, seconds)
        if step % config.save_every == 0:
            images.save_image(os.path.join(config.run_dir, IMAGE_DIR, f"step_{step:06d}.png"),
                              inputs.present(transfer.result()))
        report = StepReport(step, config.iters, step_losses, seconds, transfer)
        for callback in callbacks:
            callback(report)
        if step % config.checkpoint_every == 0 or step == end:
            manager.save(checkpoint_number=step)
        if stop.signal_number is not None:
            if manager.latest_checkpoint != _checkpoint_path(manager, step):
                manager.save(checkpoint_number=step)
            writer.flush()
            raise Interrupted(stop.signal_number, step)


def _checkpoint_path(manager: tf.train.CheckpointManager, step: int) -> str:
    return f"{os.path.join(manager.directory, 'ckpt')}-{step}"


def _write_summaries(writer, image: np.ndarray, step: int, step_losses: Dict[str, float],
                     seconds: float) -> None:
    with writer.as_default(step=step):
        for name, value in step_losses.items():
            tf.summary.scalar(f"loss/{name}", value)
        tf.summary.scalar("perf/seconds_per_step", seconds)
        tf.summary.image("image", image[None] / 255.0)
    writer.flush()


def _claim_run_directory(run_dir: str, record: dict, overwrite: bool) -> None:
    """Makes `run_dir` hold this run: new, the same run resumed, or (overwrite) a fresh start."""
    record_path = os.path.join(run_dir, RUN_RECORD)
    try:
        os.makedirs(run_dir, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test-")
        probe.close()
    except OSError as error:
        raise RunDirectoryError(f"cannot write to run directory {run_dir}: {error.strerror}") from None
    existing = _read_record(record_path)
    if existing is not None and existing != record:
        if not overwrite:
            differing = sorted(_differences(existing, record))
            raise RunDirectoryError(
                f"{run_dir} holds a run with other inputs or settings ({', '.join(differing)}); "
                f"pass --overwrite to start over or --workdir for a new run directory")
        logging.warning("--overwrite: discarding the previous run in %s", run_dir)
    if overwrite:
        _clear_run(run_dir)
    _write_json_atomically(record_path, record)


def _read_record(path: str) -> Optional[dict]:
    if not os.path.exists(path):
        return None
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError):
        return {"unreadable": path}


def _differences(old: dict, new: dict, prefix: str = "") -> Iterator[str]:
    for key in sorted(set(old) | set(new)):
        old_value, new_value = old.get(key), new.get(key)
        if isinstance(old_value, dict) and isinstance(new_value, dict):
            yield from _differences(old_value, new_value, f"{prefix}{key}.")
        elif old_value != new_value:
            yield f"{prefix}{key}"


def _clear_run(run_dir: str) -> None:
    for path in (os.path.join(run_dir, CHECKPOINT_DIR), os.path.join(run_dir, IMAGE_DIR)):
        shutil.rmtree(path, ignore_errors=True)
    for path in glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
        os.remove(path)


def _write_json_atomically(path: str, data: dict) -> None:
    with atomic_write(path, binary=False) as file:
        json.dump(data, file, indent=2, sort_keys=True)
        file.write("\n")


class _SignalFlag:
    signal_number: Optional[int] = None


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[_SignalFlag]:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop after the current step."""
    flag = _SignalFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handle(signal_number, frame):
        flag.signal_number = signal_number

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for signal_number, handler in previous.items():
            signal.signal(signal_number, handler)


class ProgressBar:
    """step/iters, losses, s/step and ETA: redrawn in place on a terminal, logged otherwise."""

    def __init__(self, iters: int, enabled: bool = True, stream=None):
        self.iters = iters
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interactive = enabled and self.stream.isatty()
        self.recent_seconds: collections.deque = collections.deque(maxlen=20)
        self.updates = 0
        self.last_logged = 0.0

    def update(self, step: int, step_losses: Dict[str, float], seconds: float) -> None:
        if not self.enabled:
            return
        self.updates += 1
        if self.updates == 2:
            self.recent_seconds.clear()  # the first step included tracing the function
        self.recent_seconds.append(seconds)
        line = self.format(step, step_losses)
        if self.interactive:
            self.stream.write("\r" + line + "\033[K")
            self.stream.flush()
        elif time.monotonic() - self.last_logged >= 10 or step == self.iters:
            self.last_logged = time.monotonic()
            logging.info("%s", line)

    def format(self, step: int, step_losses: Dict[str, float]) -> str:
        width = 24
        filled = int(width * step / self.iters)
        average_seconds = sum(self.recent_seconds) / max(1, len(self.recent_seconds))
        eta = (self.iters - step) * average_seconds
        return (f"[{'#' * filled}{'.' * (width - filled)}] {step}/{self.iters} "
                f"loss {step_losses['total']:.4g} (content {step_losses['content']:.3g}, "
                f"style {step_losses['style']:.3g}, tv {step_losses['tv']:.3g}) "
                f"{average_seconds:.2f} s/step ETA {_format_duration(eta)}")

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def _format_duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
