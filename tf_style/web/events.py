"""What a run says, as typed events, and the hub that hands them to the page's open
streams (server-sent events) from the threads that run.

On the wire (a worker's stdout, a Ray mailbox, the page's stream) an event is a JSON object
whose "type" names its kind; the page's also carry "run", the run's id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import ClassVar, Dict, List, Optional, Set, Tuple


@dataclasses.dataclass(frozen=True)
class Event:
    """One thing a run (or the server, of a run) says."""

    type: ClassVar[str]

    def as_json(self, run: Optional[str] = None) -> dict:
        """The event on the wire; with `run`, as the page gets it."""
        found = {"type": self.type, **dataclasses.asdict(self)}
        return found if run is None else {**found, "run": run}


@dataclasses.dataclass(frozen=True)
class Plan(Event):
    """The memory plan, as --dry_run prints it."""

    type: ClassVar[str] = "plan"
    text: str
    estimated_seconds: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class Step(Event):
    """A step's end: its losses, the speed and time left (None until measured), the image."""

    type: ClassVar[str] = "step"
    step: int
    iters: int
    losses: dict
    image: str  # a JPEG data URL
    scale: int = 0
    scales: int = 1
    seconds_per_step: Optional[float] = None
    eta_seconds: Optional[float] = None
    fraction: float = 0.0
    time: float = 0.0


@dataclasses.dataclass(frozen=True)
class Tile(Event):
    """A tile pass within a tiled step."""

    type: ClassVar[str] = "tile"
    done: int
    total: int


@dataclasses.dataclass(frozen=True)
class Finished(Event):
    type: ClassVar[str] = "finished"
    output: str


@dataclasses.dataclass(frozen=True)
class Stopped(Event):
    """Stopped by a signal: after a checkpoint at `step`, or while starting (None)."""

    type: ClassVar[str] = "stopped"
    step: Optional[int] = None
    message: str = ""


@dataclasses.dataclass(frozen=True)
class Failed(Event):
    type: ClassVar[str] = "failed"
    message: str


@dataclasses.dataclass(frozen=True)
class Status(Event):
    """The server's word on a run: queued, running, stopped, finished, failed, deleted."""

    type: ClassVar[str] = "status"
    status: str
    message: str = ""


# How a run ended, by the kind of its last word.
ENDINGS = (Finished, Stopped, Failed)
KINDS = {kind.type: kind for kind in (Plan, Step, Tile, Finished, Stopped, Failed, Status)}


def from_json(data: dict) -> Event:
    """The event `data` is on the wire; ValueError when it is none."""
    kind = KINDS.get(data.get("type")) if isinstance(data, dict) else None
    if kind is None:
        raise ValueError(f"not an event: {str(data)[:200]}")
    names = {field.name for field in dataclasses.fields(kind)}
    try:
        return kind(**{name: value for name, value in data.items() if name in names})
    except TypeError as error:
        raise ValueError(f"a {kind.type} event without {error}") from None

# Events a stream may hold unread; a page that stops reading loses the oldest step images.
MAX_QUEUED = 256
# What a subscriber's queue gets when the hub closes: its stream ends.
CLOSED = None


class EventHub:
    """Hands each event to every subscriber's asyncio queue, from any thread, and keeps the
    last step of each active run for a page that opens later."""

    def __init__(self):
        self._lock = threading.Lock()
        self._subscribers: Set[Tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self._last_steps: Dict[str, dict] = {}
        self._closed = False

    def subscribe(self) -> Tuple[asyncio.Queue, List[dict]]:
        """A queue of the events from now on, and the last step of each active run.
        Call from the event loop that will read the queue."""
        queue: asyncio.Queue = asyncio.Queue(MAX_QUEUED)
        with self._lock:
            if self._closed:
                queue.put_nowait(CLOSED)
            else:
                self._subscribers.add((asyncio.get_running_loop(), queue))
            return queue, list(self._last_steps.values())

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with self._lock:
            self._subscribers = {item for item in self._subscribers if item[1] is not queue}

    def close(self) -> None:
        """Ends every stream (each gets CLOSED), and any opened later: the server is
        stopping, and an open page must not hold it up."""
        with self._lock:
            self._closed = True
            subscribers, self._subscribers = list(self._subscribers), set()
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_put_dropping_oldest, queue, CLOSED)
            except RuntimeError:  # that stream's loop has closed
                pass

    def publish(self, run: str, event: Event) -> None:
        """Sends `run`'s `event` to every subscriber, as the page reads it."""
        sent = event.as_json(run)
        with self._lock:
            if isinstance(event, Step):
                self._last_steps[run] = sent
            elif isinstance(event, Status) and event.status not in ("queued", "running"):
                self._last_steps.pop(run, None)
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_put_dropping_oldest, queue, sent)
            except RuntimeError:  # that stream's loop has closed
                self.unsubscribe(queue)


def _put_dropping_oldest(queue: asyncio.Queue, event: dict) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
