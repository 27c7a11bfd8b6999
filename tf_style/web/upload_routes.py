"""/api/uploads: the photos and paintings the server keeps (`tf_style.web.uploads`)."""

from __future__ import annotations

import asyncio
import dataclasses

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from tf_style.web import bodies, uploads


@dataclasses.dataclass(frozen=True)
class UploadLimits:
    """What one upload may be, and the slot decodes take turns in."""

    max_upload_mb: float
    max_pixels: int
    decode_slot: asyncio.Semaphore

    @property
    def max_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)


async def list_uploads(request: Request) -> Response:
    return JSONResponse(uploads.listing(request.app.state.runs.upload_root))


async def upload(request: Request) -> Response:
    limits: UploadLimits = request.app.state.uploads
    declared = request.headers.get("content-length", "")
    saved = await uploads.save_upload(
        request.app.state.runs.upload_root, request.query_params.get("name", ""),
        request.query_params.get("role", ""), bodies.chunks(request), limits.max_bytes,
        limits.max_pixels, limits.decode_slot,
        declared_bytes=int(declared) if declared.isdigit() else None)
    return JSONResponse(saved, status_code=201)


async def uploaded_file(request: Request) -> Response:
    upload_root, upload_id = request.app.state.runs.upload_root, request.path_params["upload_id"]
    if "thumbnail" in request.query_params:
        data = await asyncio.to_thread(uploads.thumbnail, upload_root, upload_id)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})
    return FileResponse(uploads.upload_path(upload_root, upload_id))


ROUTES = [
    Route("/api/uploads", list_uploads),
    Route("/api/uploads", upload, methods=["POST"]),
    Route("/api/uploads/{upload_id:path}", uploaded_file),
]
