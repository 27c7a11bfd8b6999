"""The web app's routes (Starlette): the page, uploads, plans, runs, downloads, live events.

Every error is a JSON {"error": "<one line>"} with a 4xx status; a request never writes
outside the workdir, and only a new run or a resume writes in a run directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import os
from typing import Optional, Sequence

from absl import logging
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tf_style import config as config_lib
from tf_style.web import gallery, uploads
from tf_style.web.events import EventHub
from tf_style.web.runs import FORM_SETTINGS, LocalProcess, RequestError, Runs

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
TOKEN_COOKIE = "tf_style_token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
# A comment line on the event stream this often keeps proxies and the browser from closing it.
KEEPALIVE_SECONDS = 15.0
MAX_JSON_BYTES = 64 * 1024


# The command line's defaults, which the form starts from.
FORM_DEFAULTS = {field.name: field.default for field in dataclasses.fields(config_lib.TransferConfig)
                 if field.name in FORM_SETTINGS and field.default is not dataclasses.MISSING}


def error_response(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Guard:
    """ASGI middleware: the token on every request when one is set; (bound to the loopback
    address) only loopback Host names, so another site cannot reach the server through DNS
    rebinding; and no request that changes anything from a page of another origin, which
    a browser would otherwise send with the user's access (cross-site request forgery)."""

    def __init__(self, app, token: Optional[str], allowed_hosts: Optional[Sequence[str]]):
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        host = _host_name(request.headers.get("host", ""))
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            response = error_response(f"this server answers only to {', '.join(self.allowed_hosts)}"
                                      f"; got Host {host or 'none'}", 400)
            return await response(scope, receive, send)
        origin = request.headers.get("origin")
        if (request.method not in ("GET", "HEAD") and origin is not None
                and origin.split("://", 1)[-1] != request.headers.get("host", "")):
            response = error_response(f"a request from another site ({origin}) is refused", 403)
            return await response(scope, receive, send)
        set_cookie = False
        if self.token is not None:
            given = (request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                     or request.cookies.get(TOKEN_COOKIE) or request.query_params.get("token"))
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                response = error_response("missing or wrong token: open the address "
                                          "`tf-style serve` printed (it ends in ?token=...)", 401)
                return await response(scope, receive, send)
            set_cookie = request.query_params.get("token") is not None

        async def send_with_cookie(message):
            if set_cookie and message["type"] == "http.response.start":
                cookie = (f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict")
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", cookie.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


async def read_json(request: Request) -> dict:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise RequestError("the request is too large for settings", 413)
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise RequestError("the request body is not JSON") from None
    if not isinstance(value, dict):
        raise RequestError("the settings must be a JSON object")
    return value


def create_app(workdir: str, token: Optional[str] = None,
               allowed_hosts: Optional[Sequence[str]] = LOOPBACK_HOSTS, runs: Optional[Runs] = None,
               max_upload_mb: float = uploads.DEFAULT_MAX_UPLOAD_MB,
               max_image_megapixels: int = 180, launcher=LocalProcess) -> Starlette:
    """The app serving `workdir`'s runs. `runs` defaults to one run at a time here."""
    hub = runs.hub if runs is not None else EventHub()
    runs = runs or Runs(workdir, hub, launcher, max_image_megapixels=max_image_megapixels)
    max_bytes = int(max_upload_mb * 2**20)
    max_pixels = max_image_megapixels * 1_000_000

    async def page(request: Request) -> Response:
        return FileResponse(os.path.join(STATIC_DIR, "index.html"), media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            raise RequestError(f"no file {name!r}", 404)
        return FileResponse(os.path.join(STATIC_DIR, name), media_type=STATIC_FILES[name],
                            headers={"Cache-Control": "no-cache"})

    async def options(request: Request) -> Response:
        return JSONResponse({
            "presets": list(config_lib.STYLE_PRESETS), "optimizers": list(config_lib.OPTIMIZERS),
            "style_losses": list(config_lib.STYLE_LOSS_NAMES),
            "color_modes": list(config_lib.COLOR_MODES), "precisions": list(config_lib.PRECISIONS),
            "style_weights": config_lib.DEFAULT_STYLE_WEIGHTS, "max_upload_mb": max_upload_mb,
            "defaults": FORM_DEFAULTS})

    async def list_uploads(request: Request) -> Response:
        return JSONResponse({"uploads": uploads.listing(runs.upload_root)})

    async def upload(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        saved = await uploads.save_upload(
            runs.upload_root, request.query_params.get("name", ""), request.stream(), max_bytes,
            max_pixels, declared_bytes=int(declared) if declared.isdigit() else None)
        return JSONResponse(saved, status_code=201)

    async def uploaded_file(request: Request) -> Response:
        path = uploads.upload_path(runs.upload_root, request.path_params["upload_id"])
        return FileResponse(path)

    async def plan(request: Request) -> Response:
        fields = runs.plan_fields(await read_json(request))
        events = await asyncio.to_thread(_plan_events, launcher, fields)
        for event in events:
            if event.get("event") == "plan":
                return JSONResponse({"plan": event["text"],
                                     "estimated_seconds": event.get("estimated_seconds")})
            if event.get("event") == "failed":
                raise RequestError(event.get("message", "the plan failed"))
        raise RequestError("the plan could not be made; see the server's log", 400)

    async def start(request: Request) -> Response:
        run_id = runs.start(await read_json(request))
        return JSONResponse({"id": run_id}, status_code=201)

    async def list_runs(request: Request) -> Response:
        return JSONResponse({"runs": runs.entries()})

    async def one_run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        return JSONResponse(gallery.entry(runs.workdir, run_id, runs.live_status(run_id)).as_json())

    async def stop(request: Request) -> Response:
        runs.stop(request.path_params["run_id"])
        return JSONResponse({"stopping": request.path_params["run_id"]}, status_code=202)

    async def resume(request: Request) -> Response:
        runs.resume(request.path_params["run_id"])
        return JSONResponse({"resumed": request.path_params["run_id"]}, status_code=202)

    async def download(request: Request) -> Response:
        run_id, kind = request.path_params["run_id"], request.path_params["kind"]
        run_dir = gallery.run_path(runs.workdir, run_id)
        if kind not in gallery.DOWNLOADS:
            raise RequestError(f"no download {kind!r}; there are "
                               f"{', '.join(gallery.DOWNLOADS)}", 404)
        path = os.path.join(run_dir, gallery.DOWNLOADS[kind])
        if not os.path.isfile(path):
            raise RequestError(f"run {run_id} has no {kind} yet", 404)
        if "thumbnail" in request.query_params:
            data = await asyncio.to_thread(gallery.thumbnail, path)
            return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})
        filename = f"{run_id.replace('/', '_')}-{gallery.DOWNLOADS[kind]}"
        attachment = request.query_params.get("inline") is None
        return FileResponse(path, media_type="image/png", filename=filename if attachment else None,
                            headers={"Cache-Control": "no-cache"})

    async def events(request: Request) -> Response:
        queue, last_steps = hub.subscribe()

        async def stream():
            try:
                yield "retry: 2000\n\n"
                for event in last_steps:
                    yield _sse(event)
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield _sse(event)
            finally:
                hub.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def refused(request: Request, error: Exception) -> Response:
        status = getattr(error, "status", 400)
        return error_response(str(error).splitlines()[0] if str(error) else "bad request", status)

    async def http_error(request: Request, error: HTTPException) -> Response:
        detail = {404: f"no page {request.url.path}", 405: f"{request.method} is not allowed "
                  f"on {request.url.path}"}.get(error.status_code, str(error.detail))
        return error_response(detail, error.status_code)

    async def storage(request: Request, error: OSError) -> Response:
        logging.warning("%s %s: %s", request.method, request.url.path, error)
        return error_response(f"the server could not write to its workdir: "
                              f"{error.strerror or error}", 507)

    async def internal(request: Request, error: Exception) -> Response:
        logging.exception("%s %s", request.method, request.url.path)
        return error_response(f"internal error: {type(error).__name__}", 500)

    async def not_found(request: Request, error: Exception) -> Response:
        return error_response(str(error), 404)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        await asyncio.to_thread(runs.shutdown)

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/options", options),
        Route("/api/uploads", list_uploads),
        Route("/api/uploads", upload, methods=["POST"]),
        Route("/api/uploads/{upload_id:path}", uploaded_file),
        Route("/api/plan", plan, methods=["POST"]),
        Route("/api/runs", list_runs),
        Route("/api/runs", start, methods=["POST"]),
        Route("/api/runs/{run_id:path}/files/{kind}", download),
        Route("/api/runs/{run_id:path}/stop", stop, methods=["POST"]),
        Route("/api/runs/{run_id:path}/resume", resume, methods=["POST"]),
        Route("/api/runs/{run_id:path}", one_run),
        Route("/api/events", events),
    ]
    handlers = {RequestError: refused, uploads.UploadError: refused,
                gallery.UnknownRun: not_found,
                HTTPException: http_error, OSError: storage, Exception: internal}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan,
                    middleware=[Middleware(Guard, token=token, allowed_hosts=allowed_hosts)])
    app.state.runs = runs
    return app


def _host_name(host: str) -> str:
    """The Host header without its port ([::1]:8080 -> [::1])."""
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.split(":")[0]


def _plan_events(launcher, fields: dict) -> list:
    process = launcher({"mode": "plan", "config": fields}, None)
    found = list(process.events())
    process.wait()
    return found


def _sse(event: dict) -> str:
    return f"data: {json.dumps(event)}\n\n"
