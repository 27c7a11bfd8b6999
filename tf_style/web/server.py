"""`tf-style serve`: the web page on this machine (uvicorn serving `tf_style.web.app`).

    tf-style serve [--port 8080] [--host 127.0.0.1] [--workdir runs]

Bound to 127.0.0.1 by default, so only this machine reaches it. Bound elsewhere it needs
a token on every request: --token, or one made up and printed in the page's address.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import socket
import sys
from typing import Optional, Sequence

from tf_style import batch_config as batch_config_lib
from tf_style.architecture import MODELS
from tf_style.web import uploads
from tf_style.web.addresses import is_loopback

DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line and status 2."""

    def error(self, message: str) -> None:
        sys.stderr.write(f"tf-style serve: error: {message}\n")
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tf-style serve", description=__doc__.strip().splitlines()[0],
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="port to listen on (0: any free port)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on; anything but the loopback needs a token")
    parser.add_argument("--workdir", default="runs",
                        help="the folder of run directories the page starts and shows")
    parser.add_argument("--token", default=None,
                        help="required on every request (default: none on 127.0.0.1, a new "
                        "one printed otherwise)")
    parser.add_argument("--executor", choices=batch_config_lib.EXECUTORS, default="local",
                        help="local: runs take turns on this machine; ray: each run a Ray task")
    parser.add_argument("--ray_address", default=None,
                        help="with --executor ray: the cluster to join (default a local Ray)")
    parser.add_argument("--task_cpus", type=float, default=1.0,
                        help="with --executor ray: CPUs per run, as train.py --task_cpus")
    parser.add_argument("--task_gpus", type=float, default=0.0,
                        help="with --executor ray: GPUs per run, as train.py --task_gpus")
    parser.add_argument("--max_upload_mb", type=float, default=uploads.DEFAULT_MAX_UPLOAD_MB,
                        help="largest picture the page may upload, MB")
    parser.add_argument("--max_image_megapixels", type=int, default=180,
                        help="largest picture, in pixels, an upload may decode to; decoding "
                        "one costs up to 8 bytes a pixel (an image with alpha)")
    parser.add_argument("--weights", default="auto",
                        help="the network's weights for every run, as train.py --weights")
    parser.add_argument("--model", choices=MODELS, default="vgg19",
                        help="the network for every run, as train.py --model (vgg16 for the "
                        "ONNX file python -m tf_style.trained_features fetches)")
    return parser


def _check(arguments: argparse.Namespace) -> None:
    """Exits with one line for a flag out of its range."""
    if not 0 <= arguments.port < 65536:
        _fail(f"--port must be 0-65535 (0: any free port); got {arguments.port}")
    for name in ("max_upload_mb", "max_image_megapixels", "task_cpus"):
        if getattr(arguments, name) <= 0:
            _fail(f"--{name} must be positive; got {getattr(arguments, name):g}")
    if arguments.task_gpus < 0:
        _fail(f"--task_gpus must be zero or positive; got {arguments.task_gpus:g}")
    if arguments.token is not None and len(arguments.token) < 8:
        _fail("--token must be at least 8 characters")


def _ray_launcher(arguments: argparse.Namespace):
    """Runs as Ray tasks (`tf_style.ray_tasks`), or one line and exit 2 without Ray."""
    try:
        from tf_style.web.ray_launcher import RayLauncher  # noqa: PLC0415
    except ImportError:
        _fail("--executor ray needs Ray: pip install -e '.[ray]'")
    from tf_style.ray_tasks import TaskResources  # noqa: PLC0415
    return RayLauncher(arguments.ray_address, TaskResources(arguments.task_cpus,
                                                            arguments.task_gpus))


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Parses the flags, binds the port, and serves until Ctrl-C (runs checkpoint first)."""
    arguments = _parser().parse_args(argv)
    _check(arguments)
    loopback = is_loopback(arguments.host)
    token = arguments.token if (arguments.token or loopback) else secrets.token_urlsafe(24)
    try:
        listening = socket.create_server(
            (arguments.host.strip("[]"), arguments.port),
            family=socket.AF_INET6 if ":" in arguments.host else socket.AF_INET)
    except (OSError, OverflowError) as error:
        _fail(f"cannot listen on {arguments.host}:{arguments.port}: "
              f"{getattr(error, 'strerror', None) or error}")

    try:
        import uvicorn  # noqa: PLC0415 - the [web] extra, once the flags are good

        from tf_style.web import app as app_lib  # noqa: PLC0415
    except ImportError as error:
        _fail(f"tf-style serve needs the web extra ({error.name} is missing): "
              f"pip install -e '.[web]'")
    from absl import logging  # noqa: PLC0415

    from tf_style.web.events import EventHub  # noqa: PLC0415
    from tf_style.web.runs import LocalProcess, Runs  # noqa: PLC0415

    logging.set_verbosity(logging.INFO)
    launcher, concurrent = LocalProcess, 1
    if arguments.executor == "ray":
        launcher = _ray_launcher(arguments)
        concurrent = launcher.slots()
    runs = Runs(arguments.workdir, EventHub(), launcher, concurrent, weights=arguments.weights,
                model=arguments.model, max_image_megapixels=arguments.max_image_megapixels)
    app = app_lib.create_app(arguments.workdir, token=token, runs=runs, loopback_only=loopback,
                             max_upload_mb=arguments.max_upload_mb,
                             max_image_megapixels=arguments.max_image_megapixels)
    shown_host = "127.0.0.1" if arguments.host in ("0.0.0.0", "::") else arguments.host
    if ":" in shown_host and not shown_host.startswith("["):
        shown_host = f"[{shown_host}]"
    address = f"http://{shown_host}:{listening.getsockname()[1]}/"
    sys.stdout.write(f"tf_style: serving {address}{'?token=' + token if token else ''} "
                     f"(runs in {runs.workdir}; Ctrl-C stops, running runs checkpoint first)\n")
    sys.stdout.flush()
    server = _server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1,
                                    limit_concurrency=app_lib.MAX_CONNECTIONS),
                     on_exit=app.state.close)

    def stop_serving(signal_number, frame) -> None:
        server.should_exit = True

    # uvicorn handles Ctrl-C and SIGTERM (`_Server.handle_exit`), then raises the signal
    # again for the handler it found: this one, so we end quietly with 0. A signal before
    # uvicorn has started stops it as it starts.
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, stop_serving)
    server.run(sockets=[listening])
    logging.info("Stopped serving %s; a run that was stepping checkpoints at its next step "
                 "(Resume goes on from there)", address)


def _server(config, on_exit):
    """uvicorn's server, calling `on_exit` the moment it is told to stop: the open pages'
    event streams end and the runs are asked to stop, so nothing holds the exit up."""
    import uvicorn  # noqa: PLC0415 - the [web] extra

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            if not self.should_exit:
                on_exit()
            super().handle_exit(sig, frame)

    return Server(config)


def _fail(message: str) -> None:
    sys.stderr.write(f"tf-style serve: error: {message}\n")
    sys.exit(2)
