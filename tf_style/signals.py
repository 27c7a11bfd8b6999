"""SIGINT and SIGTERM during training: finish the step, checkpoint, then stop."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator, Optional

from tf_style.errors import TransferError


class Interrupted(TransferError):
    """The run stopped on SIGINT/SIGTERM: after writing a checkpoint at `step`, or (step None)
    while starting up, before its first step."""

    def __init__(self, signal_number: int, step: Optional[int]):
        self.signal_number = signal_number
        self.step = step
        name = signal.Signals(signal_number).name
        if step is None:
            message = f"stopped by {name} while starting, before the first step"
        else:
            message = (f"stopped by {name} at step {step}; checkpoint saved, rerun the same "
                       f"command to continue")
        super().__init__(message)


class StartupStop:
    """A signal handler for start-up: stop where we are, with `Interrupted` and no step.

    It also remembers the signal, for `raise_if_received`: a library that catches every
    exception (some do, around optional imports) could swallow the one raised here.
    """

    received: Optional[int] = None

    def __call__(self, signal_number: int, frame) -> None:
        self.received = signal_number
        raise Interrupted(signal_number, step=None)

    def raise_if_received(self) -> None:
        if self.received is not None:
            raise Interrupted(self.received, step=None)


class StopRequest:
    """Set by a signal handler; the loop reads it after each step."""

    signal_number: Optional[int] = None


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop after the current step.

    Outside the main thread Python cannot take signals; the request then never comes.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signal_number, frame):
        request.signal_number = signal_number

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for signal_number, handler in previous.items():
            signal.signal(signal_number, handler)
