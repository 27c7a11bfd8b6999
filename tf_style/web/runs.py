"""The web server's runs: a queue, one process per run, and their events to the page.

Each run is `python -m tf_style.web.worker` in a process of its own (TensorFlow stays out
of the server, and a run that crashes takes nothing with it). Stop sends it SIGINT: the
run checkpoints at the next step or tile, as after Ctrl-C. With the local launcher runs
take turns; with Ray (`tf_style.web.ray_launcher`) each is a Ray task and Ray schedules them.
"""

from __future__ import annotations

import base64
import collections
import ctypes
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional

from absl import logging

from tf_style import run_identity
from tf_style.files import atomic_write
from tf_style.web import events, gallery, uploads
from tf_style.web.errors import Busy, InUse, Refused
from tf_style.web import run_settings
from tf_style.web.events import EventHub

LOG_FILE = "web.log"  # the run's own log lines (its process's stderr), in its run directory
# How long the server waits, when it stops, for its runs to finish their step and
# checkpoint. It does not wait for a slow step (Ctrl-C must end the server at once): a run
# still stepping checkpoints and ends by itself, its SIGINT already sent.
SHUTDOWN_SECONDS = 0.5
# Runs the queue holds at most: more is refused (503), so requests cannot pile up work.
MAX_QUEUED_RUNS = 100
# Plans run one at a time, each in a process of its own; a request waits this long for
# its turn before it is refused.
PLAN_WAIT_SECONDS = 60.0
_PR_SET_PDEATHSIG = 1


class Process:
    """A run's worker: its events as they come, a stop, and how it ended."""

    def events(self) -> Iterator[events.Event]:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def wait(self) -> int:
        raise NotImplementedError


class LocalProcess(Process):
    """A worker process on this machine, its stderr appended to the run's log."""

    def __init__(self, request: dict, log_path: Optional[str],
                 environment: Optional[Dict[str, str]] = None):
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tf_style.web.worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, text=True, env=environment,
                start_new_session=True, preexec_fn=_stop_with_parent)
        finally:
            if log_path:
                log.close()
        self.process.stdin.write(json.dumps(request))
        self.process.stdin.close()

    def events(self) -> Iterator[events.Event]:
        for line in self.process.stdout:
            try:
                yield events.from_json(json.loads(line))
            except ValueError:
                logging.warning("A worker wrote a line that is not an event: %.200s", line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def wait(self) -> int:
        return self.process.wait()


def _stop_with_parent() -> None:
    """In the worker before it starts: SIGINT when the server's thread that started it
    ends, the server killed included, so the run checkpoints and stops."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
    except (OSError, AttributeError):  # not Linux: the run then goes on to its end
        pass


Launcher = Callable[[dict, Optional[str]], Process]


@dataclasses.dataclass
class ActiveRun:
    """A run the server has queued or is running."""

    run_id: str
    run_dir: str
    fields: dict
    status: str = "queued"
    process: Optional[Process] = None
    stop_requested: bool = False
    last_step: Optional[events.Step] = None  # the newest: its image and step


class Runs:
    """Starts, queues, stops and resumes runs under `workdir`, publishing their events.

    `concurrent` runs at once (one on this machine; with Ray, as many as Ray will place).
    """

    def __init__(self, workdir: str, hub: EventHub, launcher: Launcher = LocalProcess,
                 concurrent: int = 1, weights: str = "auto", weights_dir: str = "weights",
                 max_image_megapixels: int = 180, model: str = "vgg19"):
        self.workdir = os.path.abspath(workdir)
        self.upload_root = os.path.join(self.workdir, uploads.UPLOAD_DIR)
        self.hub = hub
        self.launcher = launcher
        self._plan_slot = threading.BoundedSemaphore(1)
        self.concurrent = concurrent
        self.server_settings = {"weights": weights, "weights_dir": os.path.abspath(weights_dir),
                                "max_image_megapixels": max_image_megapixels, "model": model}
        self._lock = threading.Condition()
        self._active: Dict[str, ActiveRun] = {}
        self._queue: collections.deque = collections.deque()
        self._running = 0
        self._closed = False
        self._threads: List[threading.Thread] = []
        self._dispatcher = threading.Thread(target=self._dispatch, name="run-queue", daemon=True)
        self._dispatcher.start()

    # What the page asks for.

    def config_fields(self, form: dict, run_dir: str) -> dict:
        """The TransferConfig fields of a run the page asks for (`run_settings.form_fields`)."""
        return run_settings.form_fields(form, self.upload_root, self.server_settings, run_dir)

    def plan(self, form: dict) -> dict:
        """The memory plan of the run the page describes: {"plan": text, "estimated_seconds"}.
        Made by a worker started as runs are (on Ray with `--executor ray`, where the run
        would go), one at a time; nothing is written. Blocks: call it from a thread."""
        fields = self.config_fields(form, os.path.join(self.workdir, ".plan"))
        if not self._plan_slot.acquire(timeout=PLAN_WAIT_SECONDS):
            raise Busy("the server is busy making another plan; try again")
        try:
            if self._closed:
                raise Busy("the server is shutting down")
            process = self.launcher({"mode": "plan", "config": fields}, None)
            found = list(process.events())
            process.wait()
        finally:
            self._plan_slot.release()
        for event in found:
            if isinstance(event, events.Plan):
                return {"plan": event.text, "estimated_seconds": event.estimated_seconds}
            if isinstance(event, events.Failed):
                raise Refused(event.message)
        raise Refused("the plan could not be made; see the server's log")

    def start(self, form: dict) -> str:
        """Queues a new run; returns its id."""
        fields = self.config_fields(form, self.workdir)  # checked before anything is written
        content, styles = form.get("content") or "", form["style"]
        # Upload and example names are plain already (`uploads.safe_name`).
        content_name = uploads.display_name(content) if content else run_identity.TEXTURE_LABEL
        name = "-".join([content_name, "+".join(uploads.display_name(style) for style in styles)])
        with self._lock:
            self._check_room()  # before its directory is made
            run_id = _free_name(self.workdir, name.replace(".", "_")[:150])
            run_dir = os.path.join(self.workdir, run_id)
            os.makedirs(run_dir)
            fields["workdir"] = run_dir
            gallery.write_web_record(run_dir, {
                "config": fields, "content_name": content_name,
                "style_names": [uploads.display_name(style) for style in styles],
                "created": time.time()})
            self._enqueue(ActiveRun(run_id, run_dir, fields))
        return run_id

    def resume(self, run_id: str) -> None:
        """Queues a stopped, crashed or failed run again; it goes on from its checkpoint."""
        run_dir = gallery.run_path(self.workdir, run_id)
        with self._lock:
            if run_id in self._active:
                raise InUse(f"run {run_id} is already {self._active[run_id].status}")
            if gallery.held_by_a_process(run_dir):
                raise InUse(f"run {run_id} is running in another process")
            if gallery.entry(self.workdir, run_id).status == "finished":
                raise InUse(f"run {run_id} has finished; start a new run to paint it again")
            record = gallery.read_json(os.path.join(run_dir, gallery.WEB_RECORD))
            if not isinstance(record.get("config"), dict):
                raise InUse(f"run {run_id} was not started from this page; resume it "
                            f"with the command that started it")
            self._enqueue(ActiveRun(run_id, run_dir, record["config"]))

    def stop(self, run_id: str) -> None:
        """Takes a queued run off the queue, or asks a running one to checkpoint and stop."""
        gallery.run_path(self.workdir, run_id)
        with self._lock:
            run = self._active.get(run_id)
            if run is None:
                raise InUse(f"run {run_id} is not running")
            run.stop_requested = True
            if run.status == "queued":
                self._queue.remove(run)
                del self._active[run_id]
                self._publish_status(run_id, "stopped")
            elif run.process is not None:
                run.process.stop()

    def delete(self, run_id: str) -> None:
        """Removes a run's directory, unless it is queued or running."""
        run_dir = gallery.run_path(self.workdir, run_id)
        with self._lock:
            if run_id in self._active:
                raise InUse(f"run {run_id} is {self._active[run_id].status}; stop it "
                            f"before deleting it")
            if gallery.held_by_a_process(run_dir):
                raise InUse(f"run {run_id} is running in another process")
            shutil.rmtree(run_dir)
        self._publish_status(run_id, "deleted")

    def live_status(self, run_id: str) -> Optional[str]:
        with self._lock:
            run = self._active.get(run_id)
            return None if run is None else run.status

    def entries(self) -> List[dict]:
        """The gallery: every run under the workdir, newest first."""
        found = []
        for run_id in gallery.run_ids(self.workdir):
            try:
                found.append(gallery.entry(self.workdir, run_id, self.live_status(run_id)))
            except gallery.UnknownRun:  # removed while we looked
                continue
        return [entry.as_json() for entry in sorted(found, key=lambda e: -e.modified)]

    def stop_all(self) -> None:
        """Stops taking runs and plans, and asks the running ones to checkpoint and stop;
        returns at once. Each run's last image and step are kept for the next server."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.clear()
            for run in self._active.values():
                run.stop_requested = True
                if run.process is not None:
                    run.process.stop()
                    _keep_last_step(run)
            self._lock.notify_all()

    def shutdown(self, timeout: float = SHUTDOWN_SECONDS) -> None:
        """`stop_all`, then up to `timeout` seconds for the runs to end."""
        self.stop_all()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    # The queue.

    def _check_room(self) -> None:
        """Busy when the server is shutting down or the queue is full."""
        if self._closed:
            raise Busy("the server is shutting down")
        if len(self._queue) >= MAX_QUEUED_RUNS:
            raise Busy(f"{MAX_QUEUED_RUNS} runs are waiting already; try again when "
                       f"some have run")

    def _enqueue(self, run: ActiveRun) -> None:
        self._check_room()
        self._active[run.run_id] = run
        self._queue.append(run)
        self._publish_status(run.run_id, "queued")
        self._lock.notify_all()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (not self._queue or self._running >= self.concurrent):
                    self._lock.wait()
                if self._closed:
                    return
                self._threads = [thread for thread in self._threads if thread.is_alive()]
                run = self._queue.popleft()
                run.status = "running"
                self._running += 1
                self._publish_status(run.run_id, "running")
                thread = threading.Thread(target=self._run, args=(run,),
                                          name=f"run {run.run_id}", daemon=True)
                thread.start()  # before shutdown() can see it to join it
                self._threads.append(thread)

    def _run(self, run: ActiveRun) -> None:
        """Starts the run's process, relays its events, and records how it ended."""
        ended: Optional[events.Event] = None
        try:
            run.process = self.launcher({"mode": "run", "config": run.fields},
                                        os.path.join(run.run_dir, LOG_FILE))
            if run.stop_requested:
                run.process.stop()
            for event in run.process.events():
                if isinstance(event, events.ENDINGS):
                    ended = event
                    continue
                if isinstance(event, events.Step):
                    run.last_step = event
                self.hub.publish(run.run_id, event)
            code = run.process.wait()
        except Exception as error:  # noqa: BLE001 - the process could not start, or Ray failed
            logging.exception("Run %s", run.run_id)
            ended, code = events.Failed(f"could not run: {error}"), 1
        if ended is None:
            ended = (events.Stopped() if run.stop_requested else
                     events.Failed(f"the run's process ended with status {code}; see "
                                   f"{LOG_FILE} in its run directory"))
        self._record_end(run, ended)

    def _record_end(self, run: ActiveRun, ended: events.Event) -> None:
        status = ended.type
        record_path = os.path.join(run.run_dir, gallery.WEB_RECORD)
        record = gallery.read_json(record_path)
        record.pop("error", None)
        if isinstance(ended, events.Failed):
            record["error"] = ended.message
        try:
            gallery.write_web_record(run.run_dir, record)
            _keep_last_step(run)
        except OSError as error:
            logging.warning("Could not record how run %s ended: %s", run.run_id, error)
        with self._lock:
            self._active.pop(run.run_id, None)
            self._running -= 1
            self._lock.notify_all()
        self._publish_status(run.run_id, status, getattr(ended, "message", ""))

    def _publish_status(self, run_id: str, status: str, message: str = "") -> None:
        self.hub.publish(run_id, events.Status(status, message))


def _keep_last_step(run: ActiveRun) -> None:
    """The run's newest image (the preview the page saw) and its step, in its directory:
    a stopped run shows where it got to, after a reload or a new server too."""
    event = run.last_step
    if event is None or not str(event.image).startswith("data:image/jpeg;base64,"):
        return
    try:
        with atomic_write(os.path.join(run.run_dir, gallery.PREVIEW_FILE)) as file:
            file.write(base64.b64decode(event.image.split(",", 1)[1]))
        record = gallery.read_json(os.path.join(run.run_dir, gallery.WEB_RECORD))
        record["last_step"] = {"step": event.step, "iters": event.iters}
        gallery.write_web_record(run.run_dir, record)
    except (OSError, ValueError) as error:
        logging.warning("Could not keep the last image of run %s: %s", run.run_id, error)


def _free_name(workdir: str, name: str) -> str:
    """`name`, or `name-2`, `name-3`, ...: the first not taken under `workdir`."""
    candidate, number = name, 1
    while os.path.exists(os.path.join(workdir, candidate)):
        number += 1
        candidate = f"{name}-{number}"
    return candidate
