"""The page itself: its HTML, script, style, icon, and the form's choices and defaults."""

from __future__ import annotations

import dataclasses
import os

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from tf_style import config as config_lib
from tf_style import settings
from tf_style.web.errors import Unknown
from tf_style.web.run_settings import FORM_SETTINGS

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
FAVICON = ("favicon.ico", "image/x-icon")
# The command line's defaults, which the form starts from.
FORM_DEFAULTS = {field.name: field.default for field in dataclasses.fields(config_lib.TransferConfig)
                 if field.name in FORM_SETTINGS and field.default is not dataclasses.MISSING}


async def page(request: Request) -> Response:
    return FileResponse(os.path.join(STATIC_DIR, "index.html"), media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC_FILES:
        raise Unknown(f"no file {name!r}")
    return FileResponse(os.path.join(STATIC_DIR, name), media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "no-cache"})


async def favicon(request: Request) -> Response:
    return FileResponse(os.path.join(STATIC_DIR, FAVICON[0]), media_type=FAVICON[1],
                        headers={"Cache-Control": "max-age=86400"})


async def options(request: Request) -> Response:
    return JSONResponse({
        "presets": list(config_lib.STYLE_PRESETS), "optimizers": list(config_lib.OPTIMIZERS),
        "style_losses": list(config_lib.STYLE_LOSS_NAMES),
        "seamless": list(config_lib.SEAMLESS_AXES),
        "color_modes": list(config_lib.COLOR_MODES), "precisions": list(config_lib.PRECISIONS),
        "style_weights": config_lib.DEFAULT_STYLE_WEIGHTS,
        "max_upload_mb": request.app.state.uploads.max_upload_mb,
        "max_iters": settings.MAX_ITERS, "max_styles": settings.MAX_STYLES,
        "max_seed": settings.MAX_SEED, "defaults": FORM_DEFAULTS})


ROUTES = [
    Route("/", page),
    Route("/favicon.ico", favicon),
    Route("/static/{name}", static),
    Route("/api/options", options),
]
