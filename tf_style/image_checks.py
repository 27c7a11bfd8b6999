"""What a damaged or unusual image file is refused for, in one line each: not a regular
file, truncated or corrupt streams Pillow would decode without a word (PNG chunks with
bad checksums, JPEG markers missing), and Pillow's own warnings about them."""

from __future__ import annotations

import os
import stat
import struct
import warnings
import zlib
from typing import List, Optional

from tf_style import stderr
from tf_style.errors import TransferError


class ImageError(TransferError):
    """An image file that is missing, unreadable, not an image, truncated or too small."""



def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def refuse_if_damaged(path: str, caught: List[warnings.WarningMessage],
                       decoder_output: stderr.HeldBack) -> None:
    """A decoder that warns (a tag past the end of the file, ...) has read a damaged file.

    Damaged EXIF metadata is common in real photos and leaves the pixels alone: allowed.
    What a C decoder printed (libtiff, say) is held back and becomes part of the refusal.
    """
    printed = " ".join(decoder_output.text().split())
    if printed:
        raise ImageError(f"cannot read image {path}: {printed[:200]} (the file is damaged)")
    for warning in caught:
        if (issubclass(warning.category, (UserWarning, RuntimeWarning))
                and "exif" not in str(warning.message).lower()):
            raise ImageError(f"cannot read image {path}: {one_line(warning.message)} "
                             f"(the file is damaged)")


def check_regular_file(path: str) -> None:
    """Refuses what is not a regular file before opening it: opening a FIFO blocks forever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageError(f"image file not found: {path}") from None
    except OSError as error:
        raise ImageError(f"cannot read image {path}: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise ImageError(f"expected an image file, got a directory: {path}")
    if not stat.S_ISREG(mode):
        raise ImageError(f"expected an image file, got a FIFO, socket or device: {path}")



def checked_stream(path: str) -> Optional[bytes]:
    """Checksums and structure Pillow does not check: every PNG chunk's CRC, and a JPEG's
    markers up to its end-of-image marker. Returns a PNG's or JPEG's bytes, read once, for
    Pillow to decode; other formats are not read here (None)."""
    with open(path, "rb") as file:
        signature = file.read(8)
        if not signature.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8")):
            return None
        data = signature + file.read()
    if data.startswith(b"\x89PNG"):
        _check_png_chunks(path, data)
    else:
        _check_jpeg_markers(path, data)
    return data


def _check_png_chunks(path: str, data: bytes) -> None:
    position = 8
    while position < len(data):
        if position + 12 > len(data):
            raise ImageError(f"cannot read image {path}: the PNG is cut short")
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 8 + length
        if end + 4 > len(data):
            raise ImageError(f"cannot read image {path}: the PNG is cut short in a {kind!r} chunk")
        (stored,) = struct.unpack(">I", data[end:end + 4])
        if zlib.crc32(data[position + 4:end]) & 0xFFFFFFFF != stored:
            raise ImageError(f"cannot read image {path}: a PNG {kind.decode('latin-1')!r} chunk "
                             f"fails its checksum (the file is corrupt)")
        if kind == b"IEND":
            return
        position = end + 4
    raise ImageError(f"cannot read image {path}: the PNG has no end chunk (cut short)")


def _check_jpeg_markers(path: str, data: bytes) -> None:
    position = 2
    while position + 1 < len(data):
        if data[position] != 0xFF:
            raise ImageError(f"cannot read image {path}: the JPEG is corrupt (no marker at "
                             f"byte {position})")
        while position + 1 < len(data) and data[position + 1] == 0xFF:  # fill bytes
            position += 1
        marker = data[position + 1] if position + 1 < len(data) else None
        if marker == 0xD9:  # end of image
            return
        if marker is None or 0xD0 <= marker <= 0xD7 or marker in (0x00, 0x01):
            position += 2
            continue
        if position + 4 > len(data):
            break
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        position += 2 + length
        if length < 2 or position > len(data):
            break
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            while True:
                position = data.find(b"\xff", position)
                if position < 0 or position + 1 >= len(data):
                    position = len(data)
                    break
                following = data[position + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    position += 2
                    continue
                break
    raise ImageError(f"cannot read image {path}: the JPEG is cut short (no end-of-image marker)")
