"""Events for the page's open streams (server-sent events), from the threads that run."""

from __future__ import annotations

import asyncio
import threading
from typing import Dict, List, Set, Tuple

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

    def publish(self, event: dict) -> None:
        """Sends `event` (with "type" and "run") to every subscriber."""
        with self._lock:
            if event["type"] == "step":
                self._last_steps[event["run"]] = event
            elif event["type"] == "status" and event["status"] not in ("queued", "running"):
                self._last_steps.pop(event["run"], None)
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_put_dropping_oldest, queue, event)
            except RuntimeError:  # that stream's loop has closed
                self.unsubscribe(queue)


def _put_dropping_oldest(queue: asyncio.Queue, event: dict) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
