"""The web app (Starlette): its routes, by resource, its guard, and one JSON error per kind.

    page_routes    the page, its files, the form's options
    upload_routes  /api/uploads
    run_routes     /api/plan, /api/runs
    event_routes   /api/events

Every error is a JSON {"error": "<one line>"} with a 4xx status (503 when busy); a request
never writes outside the workdir, and only a new run, a resume or a delete changes a run
directory.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Optional

from absl import logging
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from tf_style.web import event_routes, page_routes, run_routes, upload_routes, uploads
from tf_style.web.errors import Busy, InUse, Refused, Stalled, TooLarge, Unknown
from tf_style.web.events import EventHub
from tf_style.web.guard import Guard, error_response
from tf_style.web.runs import LocalProcess, Runs

# Connections served at once (each open page holds one for its events); uvicorn answers
# 503 beyond.
MAX_CONNECTIONS = 256
# Each kind of refusal's status; the most specific class that matches wins.
STATUSES = {Refused: 400, TooLarge: 413, Stalled: 408, Unknown: 404, InUse: 409, Busy: 503}


def create_app(workdir: str, token: Optional[str] = None, loopback_only: bool = True,
               runs: Optional[Runs] = None, max_upload_mb: float = uploads.DEFAULT_MAX_UPLOAD_MB,
               max_image_megapixels: int = 180, launcher=LocalProcess) -> Starlette:
    """The app serving `workdir`'s runs. `runs` defaults to one run at a time here, its runs
    and plans started by `launcher`. `app.state.close()` ends the open event streams and
    asks the runs to stop (the server calls it the moment it is told to stop)."""
    runs = runs or Runs(workdir, EventHub(), launcher, max_image_megapixels=max_image_megapixels)

    def close() -> None:
        runs.hub.close()
        runs.stop_all()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        close()
        await asyncio.to_thread(runs.shutdown)

    handlers = {kind: _refused(status) for kind, status in STATUSES.items()}
    handlers.update({ClientDisconnect: _disconnected, HTTPException: _http_error,
                     OSError: _storage, Exception: _internal})
    app = Starlette(routes=[*page_routes.ROUTES, *upload_routes.ROUTES, *run_routes.ROUTES,
                            *event_routes.ROUTES],
                    exception_handlers=handlers, lifespan=lifespan,
                    middleware=[Middleware(Guard, token=token, loopback_only=loopback_only)])
    app.state.runs = runs
    app.state.hub = runs.hub
    app.state.uploads = upload_routes.UploadLimits(max_upload_mb, max_image_megapixels * 1_000_000,
                                                   asyncio.Semaphore(1))
    app.state.close = close
    return app


def _refused(status: int):
    async def refused(request: Request, error: Exception) -> Response:
        return error_response(str(error).splitlines()[0] if str(error) else "bad request", status)
    return refused


async def _http_error(request: Request, error: HTTPException) -> Response:
    detail = {404: f"no page {request.url.path}", 405: f"{request.method} is not allowed "
              f"on {request.url.path}"}.get(error.status_code, str(error.detail))
    return error_response(detail[:300], error.status_code)


async def _disconnected(request: Request, error: ClientDisconnect) -> Response:
    # Expected: a browser tab closed or a connection cut mid-upload. Nobody reads this.
    logging.info("The client left during %s %s", request.method, request.url.path[:100])
    return error_response("the client disconnected", 400)


async def _storage(request: Request, error: OSError) -> Response:
    logging.warning("%s %s: %s", request.method, request.url.path, error)
    return error_response(f"the server could not write to its workdir: "
                          f"{error.strerror or error}", 507)


async def _internal(request: Request, error: Exception) -> Response:
    logging.exception("%s %s", request.method, request.url.path)
    return error_response(f"internal error: {type(error).__name__}", 500)
