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
from typing import AsyncIterator, Optional

from absl import logging
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tf_style import config as config_lib
from tf_style.web import addresses, gallery, uploads
from tf_style.web.events import CLOSED, EventHub
from tf_style.web.runs import FORM_SETTINGS, LocalProcess, RequestError, Runs

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
FAVICON = ("favicon.ico", "image/x-icon")
TOKEN_COOKIE = "tf_style_token"
# A comment line on the event stream this often keeps proxies and the browser from closing it.
KEEPALIVE_SECONDS = 15.0
MAX_JSON_BYTES = 64 * 1024
# A request body (an upload, settings) that sends nothing for this long is dropped: a
# stalled client holds a connection, and an upload a file.
STALLED_BODY_SECONDS = 60.0
# Connections served at once (each open page holds one for its events); uvicorn answers
# 503 beyond.
MAX_CONNECTIONS = 256
# On every response: no page of another site may frame this one (Start, Stop and Delete
# could be clickjacked), scripts and styles come only from our own files (the page has no
# inline ones), and the token in the address never leaves in a Referer.
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
     b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


# The command line's defaults, which the form starts from.
FORM_DEFAULTS = {field.name: field.default for field in dataclasses.fields(config_lib.TransferConfig)
                 if field.name in FORM_SETTINGS and field.default is not dataclasses.MISSING}


def error_response(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Guard:
    """ASGI middleware: the token on every request when one is set; (bound to a loopback
    address) only loopback Host names, so another site cannot reach the server through DNS
    rebinding; no request that changes anything from a page of another origin, which a
    browser would otherwise send with the user's access (cross-site request forgery); and
    SECURITY_HEADERS on every response."""

    def __init__(self, app, token: Optional[str], loopback_only: bool):
        self.app = app
        self.token = token
        self.loopback_only = loopback_only

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        set_cookie = request.query_params.get("token") is not None and self.token is not None

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *SECURITY_HEADERS]
                if set_cookie:
                    cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                    headers.append((b"set-cookie", cookie.encode()))
                message = {**message, "headers": headers}
            await send(message)

        refusal = self.refusal(request)
        if refusal is not None:
            set_cookie = False
            return await refusal(scope, receive, send_with_headers)
        await self.app(scope, receive, send_with_headers)

    def refusal(self, request: Request) -> Optional[Response]:
        """The error response for a request refused here; None when it may go on."""
        host = addresses.host_name(request.headers.get("host", ""))
        if self.loopback_only and not addresses.is_loopback(host):
            return error_response(f"this server answers only to loopback names (localhost, "
                                  f"127.0.0.1, [::1]); got Host {host[:100] or 'none'}", 400)
        origin = request.headers.get("origin")
        if (request.method not in ("GET", "HEAD") and origin is not None
                and origin.split("://", 1)[-1] != request.headers.get("host", "")):
            return error_response(f"a request from another site ({origin[:100]}) is refused", 403)
        if self.token is not None:
            given = (request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                     or request.cookies.get(TOKEN_COOKIE) or request.query_params.get("token"))
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return error_response("missing or wrong token: open the address "
                                      "`tf-style serve` printed (it ends in ?token=...)", 401)
        return None


async def read_json(request: Request) -> dict:
    """The request's JSON object; RequestError when it is too large, not JSON, nested
    deeper than Python's parser goes, or not an object."""
    body = b""
    async for chunk in _stalling_stops(request.stream(), STALLED_BODY_SECONDS):
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise RequestError("the request is too large for settings", 413)
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise RequestError("the request body is not JSON") from None
    except RecursionError:
        raise RequestError("the request body is JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise RequestError("the settings must be a JSON object")
    return value


async def _stalling_stops(chunks: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """`chunks`, refused with a 408 when none comes for `seconds`."""
    iterator = chunks.__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(iterator.__anext__(), seconds)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise RequestError(f"the request sent nothing for {seconds:g} s", 408) from None
        yield chunk


def create_app(workdir: str, token: Optional[str] = None, loopback_only: bool = True,
               runs: Optional[Runs] = None, max_upload_mb: float = uploads.DEFAULT_MAX_UPLOAD_MB,
               max_image_megapixels: int = 180, launcher=LocalProcess) -> Starlette:
    """The app serving `workdir`'s runs. `runs` defaults to one run at a time here, its runs
    and plans started by `launcher`. `app.state.close()` ends the open event streams and
    asks the runs to stop (the server calls it the moment it is told to stop)."""
    hub = runs.hub if runs is not None else EventHub()
    runs = runs or Runs(workdir, hub, launcher, max_image_megapixels=max_image_megapixels,
                        plan_launcher=launcher)
    max_bytes = int(max_upload_mb * 2**20)
    max_pixels = max_image_megapixels * 1_000_000
    decode_slot = asyncio.Semaphore(1)

    async def page(request: Request) -> Response:
        return FileResponse(os.path.join(STATIC_DIR, "index.html"), media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            raise RequestError(f"no file {name!r}", 404)
        return FileResponse(os.path.join(STATIC_DIR, name), media_type=STATIC_FILES[name],
                            headers={"Cache-Control": "no-cache"})

    async def favicon(request: Request) -> Response:
        return FileResponse(os.path.join(STATIC_DIR, FAVICON[0]), media_type=FAVICON[1],
                            headers={"Cache-Control": "max-age=86400"})

    async def options(request: Request) -> Response:
        return JSONResponse({
            "presets": list(config_lib.STYLE_PRESETS), "optimizers": list(config_lib.OPTIMIZERS),
            "style_losses": list(config_lib.STYLE_LOSS_NAMES),
            "color_modes": list(config_lib.COLOR_MODES), "precisions": list(config_lib.PRECISIONS),
            "style_weights": config_lib.DEFAULT_STYLE_WEIGHTS, "max_upload_mb": max_upload_mb,
            "max_iters": config_lib.MAX_ITERS, "max_styles": config_lib.MAX_STYLES,
            "max_seed": config_lib.MAX_SEED, "defaults": FORM_DEFAULTS})

    async def list_uploads(request: Request) -> Response:
        return JSONResponse(uploads.listing(runs.upload_root))

    async def upload(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        saved = await uploads.save_upload(
            runs.upload_root, request.query_params.get("name", ""),
            request.query_params.get("role", ""),
            _stalling_stops(request.stream(), STALLED_BODY_SECONDS), max_bytes, max_pixels,
            decode_slot, declared_bytes=int(declared) if declared.isdigit() else None)
        return JSONResponse(saved, status_code=201)

    async def uploaded_file(request: Request) -> Response:
        upload_id = request.path_params["upload_id"]
        if "thumbnail" in request.query_params:
            data = await asyncio.to_thread(uploads.thumbnail, runs.upload_root, upload_id)
            return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})
        return FileResponse(uploads.upload_path(runs.upload_root, upload_id))

    async def plan(request: Request) -> Response:
        form = await read_json(request)
        return JSONResponse(await asyncio.to_thread(runs.plan, form))

    async def start(request: Request) -> Response:
        run_id = runs.start(await read_json(request))
        return JSONResponse({"id": run_id}, status_code=201)

    async def list_runs(request: Request) -> Response:
        return JSONResponse({"runs": runs.entries()})

    async def one_run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        return JSONResponse(gallery.entry(runs.workdir, run_id, runs.live_status(run_id)).as_json())

    async def delete(request: Request) -> Response:
        runs.delete(request.path_params["run_id"])
        return JSONResponse({"deleted": request.path_params["run_id"]})

    async def stop(request: Request) -> Response:
        runs.stop(request.path_params["run_id"])
        return JSONResponse({"stopping": request.path_params["run_id"]}, status_code=202)

    async def resume(request: Request) -> Response:
        runs.resume(request.path_params["run_id"])
        return JSONResponse({"resumed": request.path_params["run_id"]}, status_code=202)

    async def download(request: Request) -> Response:
        run_id, kind = request.path_params["run_id"], request.path_params["kind"]
        run_dir = gallery.run_path(runs.workdir, run_id)
        if kind not in gallery.RUN_FILES:
            raise RequestError(f"no download {kind!r}; there are "
                               f"{', '.join(gallery.RUN_FILES)}", 404)
        path = gallery.run_file(run_dir, kind)
        if path is None:
            raise RequestError(f"run {run_id} has no {kind} yet", 404)
        name, media_type = gallery.RUN_FILES[kind]
        if "thumbnail" in request.query_params:
            data = await asyncio.to_thread(gallery.thumbnail, path)
            return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})
        filename = f"{run_id.replace('/', '_')}-{name}"
        attachment = request.query_params.get("inline") is None
        return FileResponse(path, media_type=media_type, filename=filename if attachment else None,
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
                    if event is CLOSED:
                        return
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
        return error_response(detail[:300], error.status_code)

    async def disconnected(request: Request, error: ClientDisconnect) -> Response:
        # Expected: a browser tab closed or a connection cut mid-upload. Nobody reads this.
        logging.info("The client left during %s %s", request.method, request.url.path[:100])
        return error_response("the client disconnected", 400)

    async def storage(request: Request, error: OSError) -> Response:
        logging.warning("%s %s: %s", request.method, request.url.path, error)
        return error_response(f"the server could not write to its workdir: "
                              f"{error.strerror or error}", 507)

    async def internal(request: Request, error: Exception) -> Response:
        logging.exception("%s %s", request.method, request.url.path)
        return error_response(f"internal error: {type(error).__name__}", 500)

    async def not_found(request: Request, error: Exception) -> Response:
        return error_response(str(error), 404)

    def close() -> None:
        hub.close()
        runs.stop_all()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        close()
        await asyncio.to_thread(runs.shutdown)

    routes = [
        Route("/", page),
        Route("/favicon.ico", favicon),
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
        Route("/api/runs/{run_id:path}", delete, methods=["DELETE"]),
        Route("/api/events", events),
    ]
    handlers = {RequestError: refused, uploads.UploadError: refused,
                gallery.UnknownRun: not_found, ClientDisconnect: disconnected,
                HTTPException: http_error, OSError: storage, Exception: internal}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan,
                    middleware=[Middleware(Guard, token=token, loopback_only=loopback_only)])
    app.state.runs = runs
    app.state.close = close
    return app


def _sse(event: dict) -> str:
    return f"data: {json.dumps(event)}\n\n"
