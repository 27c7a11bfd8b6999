"""Photos and paintings sent to the web server: kept under <workdir>/uploads/, by content.

An upload is checked by the image loader the command line uses (`tf_style.images`), with
the same one-line errors, before it is kept. It is stored as <sha256 prefix>/<its name>,
so sending the same file twice keeps one copy, and its id is that relative path.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from typing import AsyncIterator, List, Optional

from tf_style import images
from tf_style.errors import TransferError
from tf_style.files import IMAGE_EXTENSIONS

UPLOAD_DIR = "uploads"
DEFAULT_MAX_UPLOAD_MB = 50
EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "examples")
EXAMPLE_PREFIX = "example/"
_DIGEST = re.compile(r"[0-9a-f]{16}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class UploadError(TransferError):
    """An upload refused: too large, not an image the loader reads, or a bad name."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def safe_name(name: str) -> str:
    """`name`'s last part with anything but letters, digits, `_.-` made `_`, and no `._-` at
    its ends (a run named after it must not start with one)."""
    base = os.path.basename(name.replace("\\", "/"))
    stem, extension = os.path.splitext(base)
    stem = _UNSAFE.sub("_", stem).strip("._-")[:80] or "image"
    return stem + _UNSAFE.sub("", extension.lower())


async def save_upload(upload_root: str, name: str, chunks: AsyncIterator[bytes],
                      max_bytes: int, max_pixels: int,
                      declared_bytes: Optional[int] = None) -> dict:
    """Streams an upload to disk (refused past `max_bytes`, or at once when its declared
    size is larger), checks it with the image loader and keeps it; returns its id, name and
    size. Raises UploadError."""
    name = safe_name(name)
    too_large = UploadError(f"{name} is larger than the server's limit of {max_bytes / 2**20:g} "
                            f"MB (tf-style serve --max_upload_mb)", status=413)
    if declared_bytes is not None and declared_bytes > max_bytes:
        raise too_large
    if os.path.splitext(name)[1] not in IMAGE_EXTENSIONS:
        raise UploadError(f"{name} is not a picture file tf_style reads (it reads "
                          f"{', '.join(IMAGE_EXTENSIONS)})")
    incoming = os.path.join(upload_root, ".incoming")
    os.makedirs(incoming, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    handle, temporary = tempfile.mkstemp(dir=incoming, suffix=os.path.splitext(name)[1])
    try:
        with os.fdopen(handle, "wb") as file:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise too_large
                digest.update(chunk)
                file.write(chunk)
        if size == 0:
            raise UploadError(f"{name} is empty")
        try:
            image = images.load_image(temporary, max_pixels=max_pixels)
            images.check_size(image, name)
        except TransferError as error:
            raise UploadError(str(error).replace(temporary, name)) from None
        upload_id = f"{digest.hexdigest()[:16]}/{name}"
        kept = os.path.join(upload_root, upload_id)
        os.makedirs(os.path.dirname(kept), exist_ok=True)
        os.replace(temporary, kept)
        return {"id": upload_id, "name": name, "width": image.shape[1], "height": image.shape[0]}
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def upload_path(upload_root: str, upload_id: str) -> str:
    """The file of an upload id (or of a bundled example, `example/<name>`); UploadError
    unless it names one."""
    if upload_id.startswith(EXAMPLE_PREFIX):
        name = upload_id[len(EXAMPLE_PREFIX):]
        if name in example_names():
            return os.path.join(EXAMPLES_DIR, name)
    else:
        digest, _, name = upload_id.partition("/")
        if _DIGEST.fullmatch(digest) and name == safe_name(name):
            path = os.path.join(upload_root, digest, name)
            if os.path.isfile(path):
                return path
    raise UploadError(f"no uploaded picture {upload_id!r}; upload it first", status=404)


def example_names() -> List[str]:
    return sorted(name for name in os.listdir(EXAMPLES_DIR) if name.endswith(".png"))


def listing(upload_root: str) -> List[dict]:
    """Every upload kept (newest first), then the bundled examples."""
    kept = []
    if os.path.isdir(upload_root):
        for digest in os.listdir(upload_root):
            folder = os.path.join(upload_root, digest)
            if _DIGEST.fullmatch(digest) and os.path.isdir(folder):
                for name in os.listdir(folder):
                    if name == safe_name(name):
                        kept.append((os.path.getmtime(os.path.join(folder, name)),
                                     f"{digest}/{name}", name))
    uploads = [{"id": upload_id, "name": name} for _, upload_id, name in sorted(kept, reverse=True)]
    return uploads + [{"id": EXAMPLE_PREFIX + name, "name": f"{name} (example)"}
                      for name in example_names()]


def display_name(upload_id: str) -> str:
    """The name a person gave the file, without its extension."""
    return os.path.splitext(os.path.basename(upload_id))[0]
