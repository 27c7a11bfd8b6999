"""The run directory: its layout, and the record that says which run it holds.

    run.json                 what produced this run (compared on resume)
    .lock                    locked (flock) by the process running it; holds its id
    checkpoints/             tf.train.CheckpointManager: image, optimizer state, step, scale
    events.out.tfevents.*    TensorBoard scalars, images and the train-step graph
    images/step_NNNNNN.png   intermediate images every --save_every steps
    output.png               the final image (unless --output says elsewhere)
    frames/, output.mp4      a video's stylised frames, and the video made of them
    progress.gif, sheet.png  with --gif and --sheet
    web.json, web.log        a run started from the web page: its settings, its log
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import tempfile
import time
from typing import Iterator, List, Optional

from absl import logging

from tf_style import run_identity
from tf_style.config import TransferConfig
from tf_style.errors import TransferError
from tf_style.files import atomic_write, file_digest, path_digest

RUN_RECORD = "run.json"
LOCK_FILE = ".lock"  # holds the owning process's id while a run holds the directory
CHECKPOINT_DIR = "checkpoints"
IMAGE_DIR = "images"
FRAME_DIR = "frames"  # a video's stylised frames, frame_000001.png on
GIF_FILE = "progress.gif"
SHEET_FILE = "sheet.png"


class RunDirectoryError(TransferError):
    """A run directory that can't be written, or that holds a different run."""


def run_record(config: TransferConfig, image_size, weights_identity: dict,
               precision: str = "float32") -> dict:
    """What decides the result of a run: written as run.json, compared on resume.

    `image_size` is the (height, width) of the result; inputs are compared by content.
    `precision` is what the network computes in, `config.precision` resolved on this
    machine: it changes the picture slightly, so a run resumes only in the precision it
    started in (--precision auto can resolve otherwise on another machine). `defaults`
    says which defaults applied: trained or random features (`config.with_feature_defaults`).
    """
    return {
        "defaults": _features(weights_identity),
        "settings": {**run_identity.result_settings(config), "precision": precision},
        "content_sha256": path_digest(config.content) if config.content else None,
        "style_sha256": [file_digest(path) for path in config.style],
        "content_masks_sha256": [file_digest(path) for path in config.content_mask],
        "style_masks_sha256": [file_digest(path) for path in config.style_mask],
        "image_size": list(image_size),
        "weights": weights_identity,
    }


def frame_file(run_dir: str, index: int) -> str:
    """Where frame `index` (from 0) of a video run is kept: frames/frame_000001.png first."""
    return os.path.join(run_dir, FRAME_DIR, f"frame_{index + 1:06d}.png")


def finished_frames(run_dir: str, frame_count: int) -> List[str]:
    """The stylised frames already written, from the first up to the first missing one."""
    done = []
    for index in range(frame_count):
        path = frame_file(run_dir, index)
        if not os.path.isfile(path):
            break
        done.append(path)
    return done


class Claim:
    """This process's hold on a run directory: an advisory lock (`flock`) on its lock file,
    released by `release()`, on leaving a `with` block, or by the kernel when the process
    ends, SIGKILL included."""

    def __init__(self, run_dir: str, descriptor: int):
        self.run_dir = run_dir
        self._descriptor: Optional[int] = descriptor

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing drops the flock
            self._descriptor = None

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def claim(run_dir: str, record: dict, overwrite: bool) -> Claim:
    """Makes `run_dir` hold this run, owned by this process until the claim is released:
    new, the same run resumed, or (overwrite) a fresh start.

    Refuses, changing nothing, a directory it cannot write, one another process is using,
    or one holding another run.
    """
    record_path = os.path.join(run_dir, RUN_RECORD)
    try:
        os.makedirs(run_dir, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test-")
        probe.close()
        descriptor = os.open(os.path.join(run_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise RunDirectoryError(f"cannot write to run directory {run_dir}: {error.strerror}") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner = _owner(descriptor)
        os.close(descriptor)
        raise RunDirectoryError(
            f"run directory {run_dir} is in use by "
            f"{'process ' + owner if owner.isdigit() else 'another process'}; wait for it to "
            f"finish or stop it, or pass --workdir for another run directory") from None
    held = Claim(run_dir, descriptor)
    try:
        existing = _read_record(record_path)
        if existing is not None:
            existing = _in_todays_terms(existing, record)
        if existing is not None and existing != record:
            if not overwrite:
                differing = sorted(_differences(existing, record))
                resume = ""
                if differing == ["settings.precision"]:
                    resume = f"--precision {existing['settings']['precision']} to resume it, "
                if "settings.model" in differing:
                    resume = f"--model {existing['settings']['model']} to resume it, "
                raise RunDirectoryError(
                    f"{run_dir} holds a run with other inputs or settings ({', '.join(differing)}); "
                    f"pass {resume}--overwrite to start over or --workdir for a new run directory")
            logging.warning("--overwrite: discarding the previous run in %s", run_dir)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        if overwrite:
            _clear(run_dir)
        with atomic_write(record_path, binary=False) as file:
            json.dump(record, file, indent=2, sort_keys=True)
            file.write("\n")
    except OSError as error:
        held.release()
        raise RunDirectoryError(f"cannot write to run directory {run_dir}: "
                                f"{error.strerror or error}") from None
    except BaseException:
        held.release()
        raise
    return held


def _owner(descriptor: int) -> str:
    """The owner's process id from the lock file; it writes it just after taking the lock,
    so a moment's wait covers a start at the same instant."""
    deadline = time.monotonic() + 1.0
    while True:
        owner = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
        if owner.isdigit() or time.monotonic() > deadline:
            return owner
        time.sleep(0.02)


def _read_record(path: str) -> Optional[dict]:
    if not os.path.exists(path):
        return None
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError):
        return {"unreadable": path}


# What a run recorded before a setting existed did: computed in float32, Gram style loss,
# no Laplacian term, every scale at the full style weight.
_EARLIER_DEFAULTS = {"precision": "float32", "style_loss": "gram", "laplacian_weight": 0.0,
                     "laplacian_pool": 4, "model": "vgg19", "coarse_style_ratio": 1.0}


def _in_todays_terms(existing: dict, record: dict) -> dict:
    """An earlier version's record as this version writes it: the settings it did not
    record yet take what that version did."""
    settings = existing.get("settings")
    if not isinstance(settings, dict):
        return existing
    earlier = {key: value for key, value in _EARLIER_DEFAULTS.items()
               if key in record.get("settings", {})}
    defaults = {}
    if "defaults" in record and "defaults" not in existing and isinstance(
            existing.get("weights"), dict):
        defaults["defaults"] = _features(existing["weights"])
    return {**existing, **defaults, "settings": {**earlier, **settings}}


def _features(weights_identity: dict) -> str:
    """trained or random: the kind of features a run's weights give."""
    return "random" if weights_identity.get("kind") == "random" else "trained"


def _differences(old: dict, new: dict, prefix: str = "") -> Iterator[str]:
    for key in sorted(set(old) | set(new)):
        old_value, new_value = old.get(key), new.get(key)
        if isinstance(old_value, dict) and isinstance(new_value, dict):
            yield from _differences(old_value, new_value, f"{prefix}{key}.")
        elif old_value != new_value:
            yield f"{prefix}{key}"


def _clear(run_dir: str) -> None:
    """Removes what a previous run left: checkpoints, intermediate images, TensorBoard events."""
    for path in (os.path.join(run_dir, CHECKPOINT_DIR), os.path.join(run_dir, IMAGE_DIR),
                 os.path.join(run_dir, FRAME_DIR)):
        shutil.rmtree(path, ignore_errors=True)
    for path in glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
        os.remove(path)
