"""A run's settings as the web page sends them: the form's fields checked and joined with
the server's, and JSON fields to a `TransferConfig`."""

from __future__ import annotations

import dataclasses

from tf_style import limits
from tf_style.config import TransferConfig
from tf_style.errors import TransferError
from tf_style.web import uploads
from tf_style.web.errors import Refused

# What the page's form may set; everything else is the server's (paths, weights, outputs).
FORM_SETTINGS = ("size", "iters", "style_weight", "style_preset", "preserve_colors",
                 "optimizer", "style_loss", "seed", "deterministic", "content_weight",
                 "tv_weight", "precision", "style_blend", "seamless", "texture_size")


def form_fields(form: dict, upload_root: str, server_settings: dict, run_dir: str) -> dict:
    """The TransferConfig fields of a run the page asks for: its pictures (upload ids),
    its form settings and the server's own. Refused (or Unknown, for a picture) when any
    is bad."""
    if not isinstance(form, dict):
        raise Refused("the settings must be a JSON object")
    unknown = sorted(set(form) - set(FORM_SETTINGS) - {"content", "style"})
    if unknown:
        raise Refused(f"settings the page cannot set: {', '.join(unknown)}")
    content, styles = form.get("content"), form.get("style")
    texture = form.get("texture_size") not in (None, "")
    if texture and content not in (None, ""):
        raise Refused("a texture is made from the paintings alone: send no photo (content)")
    if not texture and (not isinstance(content, str) or not content):
        raise Refused("choose a photo (content)")
    if (not isinstance(styles, list) or not styles
            or not all(isinstance(style, str) for style in styles)):
        raise Refused("choose one or more paintings (style)")
    content_path = "" if texture else uploads.upload_path(upload_root, content)
    style_paths = [uploads.upload_path(upload_root, style) for style in styles]
    fields = {name: value for name, value in form.items() if name in FORM_SETTINGS
              and value is not None and value != ""}
    fields.update(server_settings, content=content_path, style=style_paths,
                  workdir=run_dir, progress=False, sheet=True)
    try:
        limits.check_size(config_from_fields(fields))
    except (ValueError, TypeError, TransferError) as error:
        raise Refused(str(error)) from None
    return fields


def config_from_fields(fields: dict) -> TransferConfig:
    """A `TransferConfig` from its fields as JSON holds them (lists for tuples), as the web
    page sends them. Raises ValueError for a bad setting or an unknown field."""
    known = {field.name for field in dataclasses.fields(TransferConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)}")
    return TransferConfig(**{name: tuple(value) if isinstance(value, list) else value
                             for name, value in fields.items()})
