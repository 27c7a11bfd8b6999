"""`tf-style serve --executor ray`: each run a Ray task, its events relayed by an actor.

The task runs the same worker process (`tf_style.web.worker`) on whichever node Ray
places it, and forwards its event lines to a `Mailbox` actor; the server reads them from
there and asks it to stop a run, which the task passes on as SIGINT. Run directories must
be on a path every node sees, as with `train.py --executor ray`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from typing import Iterator, Optional

import ray

from tf_style.executors import DEFAULT_MAX_RETRIES
from tf_style.web.runs import Process

# Runs the server hands Ray at once; Ray itself queues those its CPUs cannot take yet.
MAX_SUBMITTED = 64
_POLL_SECONDS = 0.5


@ray.remote(num_cpus=0)
class Mailbox:
    """Each run's event lines until the server takes them, and its stop requests."""

    def __init__(self):
        self.lines = {}
        self.stops = set()

    def put(self, key: str, line: str) -> bool:
        """Keeps a line; returns whether the run was asked to stop."""
        self.lines.setdefault(key, []).append(line)
        return key in self.stops

    def take(self, key: str) -> list:
        return self.lines.pop(key, [])

    def request_stop(self, key: str) -> None:
        self.stops.add(key)



def _run_worker(request: dict, log_path: Optional[str], mailbox, key: str) -> int:
    """In a Ray task: the worker process, its events to the mailbox, a stop passed on."""
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415

    # As train.py --executor ray: TensorFlow held to the task's CPUs (tf_style.executors).
    threads = str(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
    environment = {**os.environ, "TF_NUM_INTRAOP_THREADS": threads,
                   "TF_NUM_INTEROP_THREADS": threads}
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-m", "tf_style.web.worker"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                               text=True, env=environment)
    process.stdin.write(json.dumps(request))
    process.stdin.close()
    # Asked after each event line (a step or a tile pass): the run stops at the next one.
    stopping = False
    for line in process.stdout:
        if ray.get(mailbox.put.remote(key, line)) and not stopping:
            process.send_signal(signal.SIGINT)
            stopping = True
    return process.wait()


class RayProcess(Process):
    def __init__(self, request: dict, log_path: Optional[str], mailbox, task_cpus: float):
        self.mailbox = mailbox
        self.key = uuid.uuid4().hex
        remote = ray.remote(num_cpus=task_cpus, max_retries=DEFAULT_MAX_RETRIES)(_run_worker)
        self.task = remote.remote(request, log_path, mailbox, self.key)

    def events(self) -> Iterator[dict]:
        while True:
            done, _ = ray.wait([self.task], timeout=_POLL_SECONDS)
            for line in ray.get(self.mailbox.take.remote(self.key)):
                yield json.loads(line)
            if done:
                for line in ray.get(self.mailbox.take.remote(self.key)):
                    yield json.loads(line)
                return

    def stop(self) -> None:
        self.mailbox.request_stop.remote(self.key)

    def wait(self) -> int:
        return ray.get(self.task)


class RayLauncher:
    """Starts runs as Ray tasks of `task_cpus` CPUs on the cluster at `address` (a local
    Ray when None)."""

    def __init__(self, address: Optional[str] = None, task_cpus: float = 1.0):
        self.address = address
        self.task_cpus = task_cpus
        self.mailbox = None
        self._lock = threading.Lock()

    def slots(self) -> int:
        return MAX_SUBMITTED

    def __call__(self, request: dict, log_path: Optional[str]) -> RayProcess:
        with self._lock:
            if not ray.is_initialized():
                ray.init(address=self.address, include_dashboard=False, logging_level="error",
                         log_to_driver=False)
            if self.mailbox is None:
                self.mailbox = Mailbox.remote()
        return RayProcess(request, log_path, self.mailbox, self.task_cpus)
