"""Many pictures from one command: every (content, style) pair of folders or globs.

Each pair is an ordinary run with its own run directory, <workdir>/<content>-<style>
(the name a single run of that pair gets under runs/), so it resumes exactly as one.
A pair that finished with the same settings is skipped on a rerun; a bad file fails its
own pairs with one line each and the batch goes on. At the end the batch writes
summary.csv (status, steps, loss, seconds per pair) and contact_sheet.png in <workdir>.

No TensorFlow at import: a Ray driver lists the pairs without it (tf_style.executors).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from absl import logging

from tf_style import images, run_directory, run_identity
from tf_style.config import VIDEO_EXTENSIONS, TransferConfig
from tf_style.durations import format_duration
from tf_style.errors import TransferError
from tf_style.executors import Executor, LocalExecutor
from tf_style.files import (IMAGE_EXTENSIONS, atomic_write, expand, file_digest, names_many,
                            path_digest)
from tf_style.signals import Interrupted


SUMMARY_FILE = "summary.csv"
CONTACT_SHEET_FILE = "contact_sheet.png"
RESULT_FILE = "result.json"  # in a pair's run directory once it has finished


@dataclasses.dataclass(frozen=True)
class PairResult:
    """How one pair ended: `status` is done, skipped (finished before) or failed."""

    name: str
    content: str
    style: Tuple[str, ...]
    status: str
    steps: Optional[int] = None
    loss: Optional[float] = None
    seconds: Optional[float] = None
    message: str = ""
    output: Optional[str] = None


def is_batch(config: TransferConfig) -> bool:
    """Whether `content` (unless it is --frames of one video) or a style names a folder or
    a glob pattern."""
    return ((names_many(config.content) and not config.frames)
            or any(names_many(path) for path in config.style))


def batch_dir(config: TransferConfig) -> str:
    """Where a batch's pair directories, summary and contact sheet go."""
    return config.workdir or run_identity.RUNS_DIR


def style_sets(styles: Sequence[str]) -> List[Tuple[str, ...]]:
    """The styles each content is painted in: comma-separated files are one blend, as in a
    single run; once a folder or glob is among them, every file is a style of its own."""
    if not any(names_many(path) for path in styles):
        return [tuple(styles)]
    return [(path,) for entry in styles for path in expand(entry, "--style")]


def pair_configs(config: TransferConfig) -> List[TransferConfig]:
    """One config per (content, style) pair, each with its own run directory under
    `config.workdir` (default runs/). Raises TransferError for settings a batch can't take."""
    if config.output:
        raise TransferError("--output names one file; in a batch each pair's result is "
                            "<workdir>/<content>-<style>/output.png (choose the folder with "
                            "--workdir)")
    if config.content_mask or config.style_mask:
        raise TransferError("masks belong to one photo and one set of styles; run masked "
                            "pictures one at a time")
    contents = ([config.content] if config.frames or config.is_texture
                else expand(config.content, "--content", IMAGE_EXTENSIONS + VIDEO_EXTENSIONS))
    styles = style_sets(config.style)
    root = batch_dir(config)
    names = _pair_names(contents, styles)
    configs = []
    for content in contents:
        for style in styles:
            try:  # a video may refuse what its pictures take (16-bit output)
                configs.append(dataclasses.replace(
                    config, content=content, style=style,
                    workdir=os.path.join(root, names[content, style])))
            except ValueError as error:
                raise TransferError(f"{content}: {error}") from None
    return configs


def _pair_names(contents: Sequence[str], styles: Sequence[Tuple[str, ...]]
                ) -> Dict[Tuple[str, Tuple[str, ...]], str]:
    """<content>-<style> from the file names; with the extension where two files share a
    stem (photo.jpg and photo.png), and a number where even that is not enough."""
    def labels(paths: Sequence[str]) -> Dict[str, str]:
        stems = [os.path.splitext(os.path.basename(path))[0] or run_identity.TEXTURE_LABEL
                 for path in paths]
        chosen = {}
        for path, stem in zip(paths, stems):
            chosen[path] = os.path.basename(path) if stems.count(stem) > 1 else stem
        seen: Dict[str, int] = {}
        for path in paths:
            label = chosen[path]
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                chosen[path] = f"{label}~{seen[label]}"
        return chosen

    content_labels = labels(list(dict.fromkeys(contents)))
    style_files = list(dict.fromkeys(path for style in styles for path in style))
    style_labels = labels(style_files)
    return {(content, style): f"{content_labels[content]}-"
                              f"{'+'.join(style_labels[path] for path in style)}"
            for content in contents for style in styles}


def _fingerprint(config: TransferConfig) -> dict:
    """What must not have changed for a finished pair to count as finished."""
    return {"settings": run_identity.result_settings(config), "iters": config.iters,
            "content_sha256": path_digest(config.content) if config.content else None,
            "style_sha256": [file_digest(path) for path in config.style],
            "output_bits": config.output_bits, "weights": config.weights}


def finished_result(config: TransferConfig, fingerprint: dict) -> Optional[PairResult]:
    """The pair's earlier result when it finished with this `_fingerprint` and its output is
    still there; None otherwise (it runs, resuming what it has)."""
    path = os.path.join(run_identity.run_dir(config), RESULT_FILE)
    try:
        with open(path) as file:
            record = json.load(file)
    except (OSError, ValueError):
        return None
    if (record.get("fingerprint") != json.loads(json.dumps(fingerprint))  # tuples as lists
            or not os.path.isfile(run_identity.output_path(config))):
        return None
    return PairResult(os.path.basename(run_identity.run_dir(config)), config.content, config.style,
                      "skipped",
                      record.get("steps"), record.get("loss"), record.get("seconds"),
                      "finished before", run_identity.output_path(config))


def run_pair(config: TransferConfig, run: Optional[Callable[..., object]] = None,
             callbacks: Sequence[object] = ()) -> PairResult:
    """Runs (or resumes, or skips when finished) one pair; a TransferError is its failure.

    `run` is `tf_style.runner.run` unless given; `callbacks` go to it. A signal still stops
    the whole batch (`tf_style.Interrupted` propagates), checkpointed as a single run is.
    """
    name = os.path.basename(run_identity.run_dir(config))
    try:
        fingerprint = _fingerprint(config)
        earlier = finished_result(config, fingerprint)
        if earlier is not None:
            logging.info("%s: finished before (%s steps), skipped", name, earlier.steps)
            return earlier
        if run is None:
            from tf_style.runner import run  # noqa: PLC0415 - TensorFlow only when running
        last: Dict[str, float] = {}
        started = time.perf_counter()
        run(config, callbacks=[lambda report: last.update(step=report.step,
                                                          loss=report.losses["total"]),
                               *callbacks])
        seconds = time.perf_counter() - started
        steps, loss = last.get("step"), last.get("loss")  # None: all steps were done before
        with atomic_write(os.path.join(run_identity.run_dir(config), RESULT_FILE), binary=False) as file:
            json.dump({"fingerprint": fingerprint, "steps": steps, "loss": loss,
                       "seconds": seconds}, file, indent=1)
        return PairResult(name, config.content, config.style, "done", steps, loss, seconds,
                          output=run_identity.output_path(config))
    except Interrupted:
        raise
    except TransferError as error:
        logging.error("%s: %s", name, error)
        return PairResult(name, config.content, config.style, "failed", message=str(error))


def write_summary(root: str, results: Iterable[PairResult]) -> str:
    """summary.csv in `root`: one row per pair; returns its path."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["pair", "content", "style", "status", "steps", "loss", "seconds",
                     "output", "message"])
    for result in results:
        writer.writerow([result.name, result.content, ",".join(result.style), result.status,
                         "" if result.steps is None else result.steps,
                         "" if result.loss is None else f"{result.loss:.6g}",
                         "" if result.seconds is None else f"{result.seconds:.1f}",
                         result.output or "", result.message])
    path = os.path.join(root, SUMMARY_FILE)
    with atomic_write(path, binary=False) as file:
        file.write(buffer.getvalue())
    return path


def write_contact_sheet(root: str, configs: Sequence[TransferConfig],
                        results: Sequence[PairResult], cell: int = 192) -> Optional[str]:
    """contact_sheet.png in `root`: the styles along the top, then a row per photo (the
    photo, then its result in each style), each picture fitted into a `cell` px square.
    None when no pair has a result to show."""
    if not any(r.output and os.path.isfile(r.output) for r in results):
        return None
    # A video's picture here is its first stylised frame.
    outputs = {(c.content, c.style): video_poster(c) if c.is_video and r.output else r.output
               for c, r in zip(configs, results)}
    contents = list(dict.fromkeys(  # a photo with no result (a bad file) gets no row
        c.content for c, r in zip(configs, results) if r.output and os.path.isfile(r.output)))
    styles = list(dict.fromkeys(c.style for c in configs))
    rows = [[None] + [style[0] for style in styles]]
    rows += [[content] + [outputs.get((content, style)) for style in styles] for content in contents]
    gap = 8
    sheet = np.full((len(rows) * (cell + gap) - gap, len(rows[0]) * (cell + gap) - gap, 3),
                    255.0, np.float32)
    for row_index, row in enumerate(rows):
        for column_index, path in enumerate(row):
            picture = _thumbnail(path, cell)
            if picture is None:
                continue
            height, width = picture.shape[:2]
            top = row_index * (cell + gap) + (cell - height) // 2
            left = column_index * (cell + gap) + (cell - width) // 2
            sheet[top:top + height, left:left + width] = picture
    path = os.path.join(root, CONTACT_SHEET_FILE)
    images.save_image(path, sheet)
    return path


def video_poster(config: TransferConfig) -> str:
    """The first stylised frame of a video run."""
    return run_directory.frame_file(run_identity.run_dir(config), 0)


def _thumbnail(path: Optional[str], cell: int) -> Optional[np.ndarray]:
    """The picture at `path` fitted into a `cell` px square; None for none or a bad file."""
    if path is None or not os.path.exists(path):
        return None
    try:
        if os.path.isdir(path) or path.lower().endswith(VIDEO_EXTENSIONS):
            from tf_style import video  # noqa: PLC0415 - PyAV only for videos
            return images.resize_longest_side(video.first_frame(path), cell)
        return images.resize_longest_side(images.load_image(path, longest_side=cell), cell)
    except TransferError:
        return None


def run_batch(config: TransferConfig, executor: Optional[Executor] = None) -> List[PairResult]:
    """Every pair of `config` (see `pair_configs`) through `executor` (default: one after
    another in this process); writes summary.csv and contact_sheet.png, returns the results
    in pair order. Pairs not reached (after a signal) are listed as not run."""
    configs = pair_configs(config)
    root = batch_dir(config)
    executor = executor or LocalExecutor()
    photos = len({c.content for c in configs})
    styles = len(configs) // photos
    shape = (f"{styles} painting{'s' * (styles != 1)}, no photo" if config.is_texture else
             f"{photos} photo{'s' * (photos != 1)} x {styles} style{'s' * (styles != 1)}")
    logging.info("Batch of %d %s (%s) in %s, %s", len(configs),
                 "textures" if config.is_texture else "pairs", shape, root, executor.describe())
    results: Dict[int, PairResult] = {}
    progress = _BatchProgress(len(configs))
    bad = _bad_files(config, configs)
    for index, pair in enumerate(configs):
        reasons = [bad[path] for path in (pair.content, *pair.style) if path in bad]
        if reasons:
            results[index] = PairResult(os.path.basename(run_identity.run_dir(pair)), pair.content,
                                        pair.style,
                                        "failed", message=reasons[0])
            progress.update(results[index], quiet=True)
    runnable = [index for index in range(len(configs)) if index not in results]
    function = run_pair
    if executor.reports_steps:
        function = progress.local_bar(config.progress)
    try:
        for position, result in executor.map(function, [configs[i] for i in runnable]):
            index = runnable[position]
            # As the user named them (a Ray worker sees absolute paths).
            results[index] = result = dataclasses.replace(
                result, content=configs[index].content, style=configs[index].style,
                output=run_identity.output_path(configs[index]) if result.output else None)
            progress.update(result)
    finally:
        ordered = [results.get(index) or PairResult(
            os.path.basename(run_identity.run_dir(c)), c.content, c.style, "not run",
            message="stopped before")
            for index, c in enumerate(configs)]
        os.makedirs(root, exist_ok=True)
        summary = write_summary(root, ordered)
        sheet = write_contact_sheet(root, configs, ordered)
        logging.info("Wrote %s%s", summary, f" and {sheet}" if sheet else "")
    return ordered


def _bad_files(config: TransferConfig, configs: Sequence[TransferConfig]) -> Dict[str, str]:
    """Every input file that cannot be a picture, with its one-line reason, said once each
    (a bad photo would otherwise fail once per style)."""
    max_pixels = config.max_image_megapixels * 1_000_000
    paths = dict.fromkeys(path for c in configs for path in (c.content, *c.style) if path)
    bad = {}
    for path in paths:
        if os.path.isdir(path) or path.lower().endswith(VIDEO_EXTENSIONS):
            continue  # a video is read through when its pair starts; a bad one fails there
        try:  # decoded small where the format allows (JPEG draft mode): a check, not the load
            images.load_image(path, max_pixels=max_pixels, longest_side=64)
        except TransferError as error:
            bad[path] = str(error)
            logging.error("Skipping every pair with %s: %s", path, error)
    return bad


class _BatchProgress:
    """One line per finished pair: how many are done and failed, and the ETA of the rest
    from the mean time of the pairs that ran here (skipped ones take no time). Pairs run in
    this process also draw one bar for the batch as they step (`local_bar`)."""

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.failed = 0
        self.ran_seconds: List[float] = []
        self.started = time.perf_counter()
        self.bar = None

    def local_bar(self, enabled: bool) -> Callable[[TransferConfig], PairResult]:
        """`run_pair` drawing one bar for the batch (BatchProgressBar) instead of a bar per
        pair; for pairs that run in this process."""
        from tf_style.callbacks import BatchProgressBar  # noqa: PLC0415 - TensorFlow

        self.bar = BatchProgressBar(self.total, enabled=enabled)

        def run_with_bar(config: TransferConfig) -> PairResult:
            self.bar.start_pair(os.path.basename(run_identity.run_dir(config)), self.done,
                                "frame" if config.is_video else "")
            result = run_pair(dataclasses.replace(config, progress=False),
                              callbacks=[self.bar])
            self.bar.end_pair(ran=result.status == "done")
            return result
        return run_with_bar

    def update(self, result: PairResult, quiet: bool = False) -> None:
        if self.bar is not None:
            self.bar.clear()
        self.done += 1
        self.failed += result.status == "failed"
        if quiet:
            return
        if result.status == "done" and result.seconds is not None:
            self.ran_seconds.append(result.seconds)
        left = self.total - self.done
        eta = ""
        if left and self.ran_seconds:
            eta = f", ETA {format_duration(left * sum(self.ran_seconds) / len(self.ran_seconds))}"
        failed = f", {self.failed} failed" if self.failed else ""
        logging.info("Batch: %d/%d pairs%s (%s: %s) after %s%s", self.done, self.total, failed,
                     result.name, result.status,
                     format_duration(time.perf_counter() - self.started), eta)
