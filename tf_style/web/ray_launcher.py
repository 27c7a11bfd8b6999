"""`tf-style serve --executor ray`: each run a Ray task, its events relayed by an actor.

The task runs the same worker process (`tf_style.web.worker`) on whichever node Ray
places it, and forwards its events to a `Mailbox` actor; the server reads them from
there and asks it to stop a run, which the task passes on as SIGINT. Tasks are made, and
their resources asked for, as a batch's are (`tf_style.ray_tasks`): a run whose --device
is gpu asks for a GPU. Run directories must be on a path every node sees, as with
`train.py --executor ray`.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Iterator, Optional

import ray

from tf_style import ray_tasks
from tf_style.web import events
from tf_style.web.runs import LocalProcess, Process

# Runs the server hands Ray at once; Ray itself queues those its CPUs cannot take yet.
MAX_SUBMITTED = 64
_POLL_SECONDS = 0.5


@ray.remote(num_cpus=0)
class Mailbox:
    """Each run's events until the server takes them, and its stop requests."""

    def __init__(self):
        self.events = {}
        self.stops = set()

    def put(self, key: str, event: dict) -> bool:  # an event as JSON
        """Keeps an event; returns whether the run was asked to stop."""
        self.events.setdefault(key, []).append(event)
        return key in self.stops

    def take(self, key: str) -> list:
        return self.events.pop(key, [])

    def request_stop(self, key: str) -> None:
        self.stops.add(key)



def _run_worker(request: dict, log_path: Optional[str], mailbox, key: str) -> int:
    """In a Ray task: the worker process, its events to the mailbox, a stop passed on."""
    # As train.py --executor ray: TensorFlow held to the task's CPUs.
    process = LocalProcess(request, log_path, {
        **os.environ, **ray_tasks.thread_environment(int(ray_tasks.assigned_cpus()))})
    # Asked after each event (a step or a tile pass): the run stops at the next one.
    stopping = False
    for event in process.events():
        if ray.get(mailbox.put.remote(key, event.as_json())) and not stopping:
            process.stop()
            stopping = True
    return process.wait()


class RayProcess(Process):
    def __init__(self, request: dict, log_path: Optional[str], mailbox,
                 resources: ray_tasks.TaskResources):
        self.mailbox = mailbox
        self.key = uuid.uuid4().hex
        device = request.get("config", {}).get("device", "auto")
        self.task = ray_tasks.remote(_run_worker, resources.for_device(device)).remote(
            request, log_path, mailbox, self.key)

    def events(self) -> Iterator[events.Event]:
        while True:
            done, _ = ray.wait([self.task], timeout=_POLL_SECONDS)
            yield from map(events.from_json, ray.get(self.mailbox.take.remote(self.key)))
            if done:
                yield from map(events.from_json, ray.get(self.mailbox.take.remote(self.key)))
                return

    def stop(self) -> None:
        self.mailbox.request_stop.remote(self.key)

    def wait(self) -> int:
        return ray.get(self.task)


class RayLauncher:
    """Starts runs as Ray tasks with `resources` on the cluster at `address` (a local Ray
    when None)."""

    def __init__(self, address: Optional[str] = None,
                 resources: ray_tasks.TaskResources = ray_tasks.TaskResources()):
        self.address = address
        self.resources = resources
        self.mailbox = None
        self._lock = threading.Lock()

    def slots(self) -> int:
        return MAX_SUBMITTED

    def __call__(self, request: dict, log_path: Optional[str]) -> RayProcess:
        with self._lock:
            ray_tasks.connect(self.address)
            if self.mailbox is None:
                self.mailbox = Mailbox.remote()
        return RayProcess(request, log_path, self.mailbox, self.resources)
