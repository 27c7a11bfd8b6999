"""Photos and paintings sent to the web server: kept under <workdir>/uploads/, by content.

An upload is checked by the image loader the command line uses (`tf_style.images`), with
the same one-line errors, before it is kept. It is stored as <sha256 prefix>/<its name>,
so sending the same file twice keeps one copy, and its id is that relative path. Beside
it: its thumbnail for the page, and whether it was sent as a photo, a painting or both.

Decoding runs in a worker thread, one upload at a time, so the server goes on answering
while a large picture is checked, and its memory stays bounded by one decode: the pixel
limit times 4 bytes, 8 with alpha (`benchmarks/web_hostile.py` measures it).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import tempfile
from typing import AsyncIterator, Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from tf_style import images
from tf_style.errors import TransferError
from tf_style.files import IMAGE_EXTENSIONS, atomic_write, regular_file_inside
from tf_style.web.errors import Refused, TooLarge, Unknown

UPLOAD_DIR = "uploads"
DEFAULT_MAX_UPLOAD_MB = 50
EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "examples")
EXAMPLE_PREFIX = "example/"
# What each picture was sent as; the page lists photos and paintings apart.
ROLES = ("photo", "painting")
# The bundled examples the page offers (tf_style/examples also holds masks, which it does not).
EXAMPLE_ROLES = {"content.png": "photo", "style.png": "painting", "style2.png": "painting"}
# The page's picture lists show 80 CSS px thumbnails: this is sharp on a 2x screen.
THUMBNAIL_SIDE = 160
# Kept beside the upload; names that are no upload's (`safe_name` never starts with a dot).
THUMBNAIL_FILE = ".thumbnail.jpg"
_DIGEST = re.compile(r"[0-9a-f]{16}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(name: str) -> str:
    """`name`'s last part with anything but letters, digits, `_.-` made `_`, and no `._-` at
    its ends (a run named after it must not start with one)."""
    base = os.path.basename(name.replace("\\", "/"))
    stem, extension = os.path.splitext(base)
    stem = _UNSAFE.sub("_", stem).strip("._-")[:80] or "image"
    return stem + _UNSAFE.sub("", extension.lower())


async def save_upload(upload_root: str, name: str, role: str, chunks: AsyncIterator[bytes],
                      max_bytes: int, max_pixels: int, decode_slot: asyncio.Semaphore,
                      declared_bytes: Optional[int] = None) -> dict:
    """Streams an upload to disk (refused past `max_bytes`, or at once when its declared
    size is larger), checks it with the image loader in a worker thread (one at a time:
    `decode_slot`) and keeps it as a `role`; returns its id, name and size. Raises
    Refused, TooLarge or Stalled (from `chunks`)."""
    name = safe_name(name)
    if role not in ROLES:
        raise Refused(f"an upload is a photo or a painting (role=photo|painting); "
                      f"got role={role[:40]!r}")
    too_large = TooLarge(f"{name} is larger than the server's limit of {max_bytes / 2**20:g} "
                         f"MB (tf-style serve --max_upload_mb)")
    if declared_bytes is not None and declared_bytes > max_bytes:
        raise too_large
    if os.path.splitext(name)[1] not in IMAGE_EXTENSIONS:
        raise Refused(f"{name} is not a picture file tf_style reads (it reads "
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
            raise Refused(f"{name} is empty")
        async with decode_slot:
            (height, width), thumbnail = await asyncio.to_thread(
                _checked_picture, temporary, name, max_pixels)
        upload_id = f"{digest.hexdigest()[:16]}/{name}"
        _keep(upload_root, upload_id, temporary, thumbnail, role)
        return {"id": upload_id, "name": name, "width": width, "height": height, "role": role}
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _checked_picture(path: str, name: str, max_pixels: int) -> Tuple[Tuple[int, int], bytes]:
    """(height, width) of the picture at `path` as the run will see it, and its thumbnail;
    Refused, in the loader's words, when a run could not read it.

    The picture is decoded once, whole (a damaged one is refused), and shrunk as it is
    read: its cost is its decoded pixels, never a float copy of them."""
    header = images.header_size(path)
    try:
        if header is not None:
            images.check_side(header[0], header[1], name)
        reduced = images.load_image(path, max_pixels=max_pixels, longest_side=THUMBNAIL_SIDE)
    except TransferError as error:
        raise Refused(str(error).replace(path, name)) from None
    height, width = header if header is not None else reduced.shape[:2]
    if (reduced.shape[0] > reduced.shape[1]) != (height > width):  # turned by its EXIF tag
        height, width = width, height
    return (height, width), thumbnail_jpeg(reduced)


def thumbnail_jpeg(image: np.ndarray) -> bytes:
    """`image` (H, W, 3 floats in 0-255) as a JPEG no larger than THUMBNAIL_SIDE a side."""
    picture = Image.fromarray(images.to_uint8(image))
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _keep(upload_root: str, upload_id: str, temporary: str, thumbnail: bytes, role: str) -> None:
    folder = os.path.join(upload_root, os.path.dirname(upload_id))
    os.makedirs(folder, exist_ok=True)
    os.replace(temporary, os.path.join(upload_root, upload_id))
    with atomic_write(os.path.join(folder, THUMBNAIL_FILE)) as file:
        file.write(thumbnail)
    open(os.path.join(folder, "." + role), "a").close()


def upload_path(upload_root: str, upload_id: str) -> str:
    """The file of an upload id (or of a bundled example, `example/<name>`), links resolved;
    Unknown unless it names a regular file inside the uploads (or the examples)."""
    if upload_id.startswith(EXAMPLE_PREFIX):
        name = upload_id[len(EXAMPLE_PREFIX):]
        if name in example_names():
            found = regular_file_inside(EXAMPLES_DIR, os.path.join(EXAMPLES_DIR, name))
            if found:
                return found
    else:
        digest, _, name = upload_id.partition("/")
        if _DIGEST.fullmatch(digest) and name == safe_name(name):
            found = regular_file_inside(upload_root, os.path.join(upload_root, digest, name))
            if found:
                return found
    raise Unknown(f"no uploaded picture {upload_id!r}; upload it first")


def thumbnail(upload_root: str, upload_id: str) -> bytes:
    """The thumbnail of an upload (kept when it came) or of an example (made now: they are
    small). Unknown when there is none."""
    path = upload_path(upload_root, upload_id)
    if upload_id.startswith(EXAMPLE_PREFIX):
        try:
            return thumbnail_jpeg(images.load_image(path, longest_side=THUMBNAIL_SIDE))
        except TransferError as error:
            raise Unknown(str(error)) from None
    found = regular_file_inside(upload_root, os.path.join(os.path.dirname(path), THUMBNAIL_FILE))
    if found is None:
        raise Unknown(f"no thumbnail of {upload_id!r}")
    with open(found, "rb") as file:
        return file.read()


def example_names() -> List[str]:
    return sorted(name for name in EXAMPLE_ROLES
                  if os.path.isfile(os.path.join(EXAMPLES_DIR, name)))


def listing(upload_root: str) -> Dict[str, List[dict]]:
    """The photos and the paintings kept (newest first), then the bundled examples. An
    upload sent as both is in both; one kept before roles were, in both too."""
    kept = []
    if os.path.isdir(upload_root):
        for digest in os.listdir(upload_root):
            folder = os.path.join(upload_root, digest)
            if not (_DIGEST.fullmatch(digest) and os.path.isdir(folder)):
                continue
            roles = [role for role in ROLES if os.path.exists(os.path.join(folder, "." + role))]
            for name in os.listdir(folder):
                path = os.path.join(folder, name)
                if name == safe_name(name) and regular_file_inside(upload_root, path):
                    kept.append((os.path.getmtime(path), f"{digest}/{name}", name,
                                 roles or list(ROLES)))
    found: Dict[str, List[dict]] = {"photos": [], "paintings": []}
    for _, upload_id, name, roles in sorted(kept, reverse=True):
        for role in roles:
            found[role + "s"].append({"id": upload_id, "name": name})
    for name in example_names():
        found[EXAMPLE_ROLES[name] + "s"].append({"id": EXAMPLE_PREFIX + name,
                                                 "name": f"{name} (example)"})
    return found


def display_name(upload_id: str) -> str:
    """The name a person gave the file, without its extension."""
    return os.path.splitext(os.path.basename(upload_id))[0]
