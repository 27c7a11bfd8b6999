"""/api/plan and /api/runs: plan, start, list, stop, resume, delete and download runs
(`tf_style.web.runs` does the work)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from tf_style.web import bodies, gallery
from tf_style.web.errors import Unknown


async def plan(request: Request) -> Response:
    form = await bodies.read_json(request)
    return JSONResponse(await asyncio.to_thread(request.app.state.runs.plan, form))


async def start(request: Request) -> Response:
    run_id = request.app.state.runs.start(await bodies.read_json(request))
    return JSONResponse({"id": run_id}, status_code=201)


async def list_runs(request: Request) -> Response:
    return JSONResponse({"runs": request.app.state.runs.entries()})


async def one_run(request: Request) -> Response:
    runs, run_id = request.app.state.runs, request.path_params["run_id"]
    return JSONResponse(gallery.entry(runs.workdir, run_id, runs.live_status(run_id)).as_json())


async def delete(request: Request) -> Response:
    request.app.state.runs.delete(request.path_params["run_id"])
    return JSONResponse({"deleted": request.path_params["run_id"]})


async def stop(request: Request) -> Response:
    request.app.state.runs.stop(request.path_params["run_id"])
    return JSONResponse({"stopping": request.path_params["run_id"]}, status_code=202)


async def resume(request: Request) -> Response:
    request.app.state.runs.resume(request.path_params["run_id"])
    return JSONResponse({"resumed": request.path_params["run_id"]}, status_code=202)


async def download(request: Request) -> Response:
    run_id, kind = request.path_params["run_id"], request.path_params["kind"]
    run_dir = gallery.run_path(request.app.state.runs.workdir, run_id)
    if kind not in gallery.RUN_FILES:
        raise Unknown(f"no download {kind!r}; there are {', '.join(gallery.RUN_FILES)}")
    path = gallery.run_file(run_dir, kind)
    if path is None:
        raise Unknown(f"run {run_id} has no {kind} yet")
    name, media_type = gallery.RUN_FILES[kind]
    if "thumbnail" in request.query_params:
        data = await asyncio.to_thread(gallery.thumbnail, path)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})
    filename = f"{run_id.replace('/', '_')}-{name}"
    attachment = request.query_params.get("inline") is None
    return FileResponse(path, media_type=media_type, filename=filename if attachment else None,
                        headers={"Cache-Control": "no-cache"})


ROUTES = [
    Route("/api/plan", plan, methods=["POST"]),
    Route("/api/runs", list_runs),
    Route("/api/runs", start, methods=["POST"]),
    Route("/api/runs/{run_id:path}/files/{kind}", download),
    Route("/api/runs/{run_id:path}/stop", stop, methods=["POST"]),
    Route("/api/runs/{run_id:path}/resume", resume, methods=["POST"]),
    Route("/api/runs/{run_id:path}", one_run),
    Route("/api/runs/{run_id:path}", delete, methods=["DELETE"]),
]
