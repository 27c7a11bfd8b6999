"""The run directories under the server's workdir: where each is, what it holds, its status.

A run's id is its path under the workdir (`photo-painting`, or `batch/photo-painting` for a
batch's pair). Only ids made of plain names reach the filesystem, and only inside the
workdir; anything else is an unknown run.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import os
import re
from typing import List, Optional

from PIL import Image

from tf_style import run_directory
from tf_style.files import atomic_write, regular_file_inside
from tf_style.web.errors import Unknown

# What the web server keeps beside a run's own files: the settings it was started with
# (so Resume can rerun them) and, when it failed, the one-line error.
WEB_RECORD = "web.json"
# Files a run directory offers for download, by the name the page asks for.
DOWNLOADS = {"output": "output.png", "sheet": run_directory.SHEET_FILE}
# The last image the page saw of a run that stopped (the server keeps it, a JPEG).
PREVIEW_FILE = "preview.jpg"
# Every file the page may fetch from a run directory, and its type.
RUN_FILES = {**{kind: (name, "image/png") for kind, name in DOWNLOADS.items()},
             "preview": (PREVIEW_FILE, "image/jpeg")}
# A name in a run id: no separators, no leading dot (so neither `..` nor hidden files).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}")


class UnknownRun(Unknown):
    """A run id that names no run directory under the workdir."""

    def __init__(self, run_id: str):
        super().__init__(f"no run {run_id!r} in this server's workdir")


@dataclasses.dataclass
class RunEntry:
    """One run directory as the gallery shows it."""

    id: str
    status: str
    settings: dict
    web: dict
    error: str = ""
    downloads: tuple = ()
    modified: float = 0.0

    preview: bool = False

    def as_json(self) -> dict:
        last_step = self.web.get("last_step")
        return {"id": self.id, "status": self.status, "settings": self.settings,
                "content": self.web.get("content_name", ""),
                "styles": self.web.get("style_names", []), "error": self.error,
                "downloads": list(self.downloads),
                "resumable": bool(self.web.get("config")) and self.status != "finished",
                "preview": self.preview,
                "last_step": last_step if isinstance(last_step, dict) else None,
                "modified": self.modified}


def run_path(workdir: str, run_id: str) -> str:
    """The directory of `run_id` under `workdir`; UnknownRun unless it is one."""
    parts = run_id.split("/")
    if not 1 <= len(parts) <= 2 or not all(_NAME.fullmatch(part) for part in parts):
        raise UnknownRun(run_id)
    root = os.path.realpath(workdir)
    path = os.path.realpath(os.path.join(root, *parts))
    if os.path.dirname(path) != root and os.path.dirname(os.path.dirname(path)) != root:
        raise UnknownRun(run_id)  # a symbolic link out of the workdir
    if not os.path.isfile(os.path.join(path, run_directory.RUN_RECORD)) and not os.path.isfile(
            os.path.join(path, WEB_RECORD)):
        raise UnknownRun(run_id)
    return path


def is_name(name: str) -> bool:
    """Whether `name` may be one part of a run id."""
    return bool(_NAME.fullmatch(name))


def run_ids(workdir: str) -> List[str]:
    """Every run directory under `workdir`, and every pair directory of a batch in it."""
    found = []
    for name in _sorted_names(workdir):
        path = os.path.join(workdir, name)
        if _is_run(path):
            found.append(name)
        elif os.path.isdir(path):
            found.extend(f"{name}/{pair}" for pair in _sorted_names(path)
                         if _is_run(os.path.join(path, pair)))
    return found


def _sorted_names(directory: str) -> List[str]:
    try:
        return sorted(name for name in os.listdir(directory) if is_name(name))
    except OSError:
        return []


def _is_run(path: str) -> bool:
    return (os.path.isfile(os.path.join(path, run_directory.RUN_RECORD))
            or os.path.isfile(os.path.join(path, WEB_RECORD)))


def read_json(path: str) -> dict:
    """A JSON object from `path`, or {} when it is missing or unreadable."""
    try:
        with open(path) as file:
            value = json.load(file)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_web_record(run_dir: str, record: dict) -> None:
    with atomic_write(os.path.join(run_dir, WEB_RECORD), binary=False) as file:
        json.dump(record, file, indent=2, sort_keys=True)
        file.write("\n")


# The gallery's pictures: a 4K output is shown this many px on its longest side, not whole.
THUMBNAIL_SIDE = 480


@functools.lru_cache(maxsize=128)
def _thumbnail_of(path: str, modified_ns: int, file_size: int) -> bytes:
    with Image.open(path) as picture:
        picture.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        picture = picture.convert("RGB")
        picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def thumbnail(path: str) -> bytes:
    """The picture at `path` as a JPEG at most THUMBNAIL_SIDE px a side; kept until the
    file changes."""
    status = os.stat(path)
    return _thumbnail_of(path, status.st_mtime_ns, status.st_size)


def held_by_a_process(run_dir: str) -> bool:
    """Whether a process holds the run directory's lock (a run in progress, started here
    or anywhere else), found without taking the lock: a run starting this instant would
    otherwise find it taken."""
    try:
        status = os.stat(os.path.join(run_dir, run_directory.LOCK_FILE))
    except OSError:
        return False
    device = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    try:
        with open("/proc/locks") as locks:
            return any(line.split()[5] == device for line in locks
                       if len(line.split()) > 5 and line.split()[1] == "FLOCK")
    except OSError:
        return False


def entry(workdir: str, run_id: str, live_status: Optional[str] = None) -> RunEntry:
    """The gallery's view of `run_id`; `live_status` is what the server knows of a run it
    queued or is running. UnknownRun when there is no such run."""
    path = run_path(workdir, run_id)
    record = read_json(os.path.join(path, run_directory.RUN_RECORD))
    web = read_json(os.path.join(path, WEB_RECORD))
    config = web.get("config") if isinstance(web.get("config"), dict) else {}
    output = config.get("output") or os.path.join(path, DOWNLOADS["output"])
    error = web.get("error", "")
    if live_status is not None:
        status = live_status
    elif held_by_a_process(path):
        status = "running"
    elif error:
        status = "failed"
    elif os.path.isfile(output):
        status = "finished"
    else:
        status = "stopped"
    downloads = tuple(kind for kind in DOWNLOADS if run_file(path, kind) is not None)
    try:
        modified = os.path.getmtime(path)
    except OSError:
        modified = 0.0
    return RunEntry(run_id, status, record.get("settings", {}), web,
                    error if status == "failed" else "", downloads, modified,
                    run_file(path, "preview") is not None)


def run_file(run_dir: str, kind: str) -> Optional[str]:
    """The file of `kind` (RUN_FILES) in a run directory, links resolved, when it is a
    regular file inside the directory; None otherwise (a link out of it included)."""
    return regular_file_inside(run_dir, os.path.join(run_dir, RUN_FILES[kind][0]))
