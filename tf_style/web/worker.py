"""One run, or its plan, in a process of its own for the web server.

    python -m tf_style.web.worker < request.json

The request is {"mode": "run" | "plan", "config": {TransferConfig fields}}. Events go to
stdout as JSON lines (anything else printed goes to stderr); SIGINT stops a run at the
next step or tile with a checkpoint, the same path as Ctrl-C on the command line. Exit
status: 0 finished, 2 failed with a one-line error, 128 + the signal when stopped.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import sys
import time
import traceback
from typing import Callable, Optional

import numpy as np
from absl import logging
from PIL import Image

from tf_style import run_identity, signals
from tf_style.callbacks.callback import Callback, StepReport
from tf_style.callbacks.eta import Eta
from tf_style.web.run_settings import config_from_fields
from tf_style.errors import TransferError
from tf_style.web import events

# The live image is sent at most this many px on its longest side: enough for the page,
# and a 4K picture's step event stays small.
PREVIEW_SIDE = 768
PREVIEW_QUALITY = 90

Emit = Callable[[events.Event], None]


def preview_data_url(image: np.ndarray, longest_side: int = PREVIEW_SIDE) -> str:
    """`image` (H, W, 3 floats in 0-255) as a JPEG data URL no larger than `longest_side`."""
    picture = Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))
    picture.thumbnail((longest_side, longest_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    # 4:4:4: no halved colour resolution, so fine brushwork keeps its colours.
    picture.save(buffer, format="JPEG", quality=PREVIEW_QUALITY, subsampling=0)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class EventStream(Callback):
    """Each step (losses, speed, time left, the image) and each tile pass as an event."""

    def __init__(self, emit: Emit, eta: Eta, iters: int):
        self.emit = emit
        self.eta = eta
        self.iters = iters

    def on_step_end(self, report: StepReport) -> None:
        self.eta.on_step_end(report)
        # A process's first step on a scale includes starting up (tracing the step, a
        # resumed run's restore): no speed and no time left until a step without it.
        measured = self.eta.measured()
        self.emit(events.Step(
            step=report.step, iters=self.iters, losses=report.losses,
            image=preview_data_url(report.image), scale=report.scale_index,
            scales=len(self.eta.scales),
            seconds_per_step=self.eta.average_seconds() if measured else None,
            eta_seconds=self.eta.seconds_left() if measured else None,
            fraction=self.eta.fraction_done(), time=time.time()))

    def on_tile_end(self, done: int, total: int) -> None:
        self.emit(events.Tile(done, total))


def serve_request(request: dict, emit: Emit,
                  startup: Optional[signals.StartupStop] = None) -> int:
    """Runs or plans `request`, saying how it went in events; returns the exit status."""
    try:
        config = config_from_fields(request["config"])
    except (ValueError, TypeError) as error:
        emit(events.Failed(str(error)))
        return 2
    try:
        import tf_style.runner as runner  # noqa: PLC0415 - TensorFlow, after the settings
        if startup is not None:
            startup.raise_if_received()
        plan = runner.plan(config)
        emit(events.Plan(plan.describe(config), plan.estimated_seconds(config)))
        if request.get("mode") == "plan":
            return 0
        eta = Eta(config.iters, [(steps, scale.seconds_per_step or 1.0) for steps, scale
                                 in zip(plan.expected_steps(config), plan.scales)])
        runner.run(config, callbacks=[EventStream(emit, eta, config.iters)])
        emit(events.Finished(run_identity.output_path(config)))
        return 0
    except signals.Interrupted as interrupted:
        logging.info("%s", interrupted)  # the run's log says it too: the server may be gone
        emit(events.Stopped(interrupted.step, str(interrupted)))
        return 128 + interrupted.signal_number
    except TransferError as error:
        emit(events.Failed(str(error)))
        return 2
    except Exception as error:  # noqa: BLE001 - a bug: traceback to the log, a line to the page
        traceback.print_exc()
        emit(events.Failed(f"internal error: {type(error).__name__}: "
                           f"{str(error).splitlines()[0] if str(error) else ''}"))
        return 1


def main() -> int:
    # A parent may start us with these blocked (a Ray task's thread does): a blocked signal
    # would never reach the handlers, and Stop would do nothing.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    startup = signals.StartupStop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, startup)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The events keep stdout to themselves; anything a library prints goes to the log.
    said = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def emit(event: events.Event) -> None:
        try:
            said.write(json.dumps(event.as_json()) + "\n")
        except (BrokenPipeError, OSError):  # the server is gone: the run goes on, saved
            pass

    logging.set_verbosity(logging.INFO)
    try:
        request = json.load(sys.stdin)
    except ValueError as error:
        emit(events.Failed(f"a request that is not JSON: {error}"))
        return 2
    return serve_request(request, emit, startup)


if __name__ == "__main__":
    sys.exit(main())
