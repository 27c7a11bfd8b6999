"""Images in and out: any common file to sRGB float32 in 0-255, resized; atomic writes.

Colour: an embedded ICC profile (Adobe RGB, Display P3, a CMYK press profile, ...) is
converted to sRGB on load, and every file we write is tagged sRGB, so a picture looks
the same in and out. HEIC/HEIF (iPhone photos) needs the `heif` extra (pillow-heif);
AVIF is read by Pillow itself.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import struct
import warnings
import zlib
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
from absl import logging
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError, features

from tf_style import image_checks, stderr
from tf_style.architecture import MIN_IMAGE_SIDE
from tf_style.image_checks import ImageError
from tf_style.files import atomic_write

HEIF_EXTENSIONS = (".heic", ".heif", ".hif")
# Pillow's own decompression-bomb limit (2 x 89.5 MP); --max_image_megapixels changes ours.
DEFAULT_MAX_PIXELS = 180_000_000
# Formats whose files carry an ICC profile, and the quality we write the lossy ones at.
_TAGGED_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "AVIF", "HEIF")
_LOSSY_QUALITY = {"JPEG": 95, "WEBP": 95, "AVIF": 90, "HEIF": 90}
SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")
# Formats we write with an alpha channel (a transparent content's opacity).
ALPHA_FORMATS = ("PNG", "TIFF", "WEBP", "AVIF")


def load_image(path: str, max_pixels: int = DEFAULT_MAX_PIXELS,
               longest_side: Optional[int] = None) -> np.ndarray:
    """Reads an image file as an (H, W, 3) float32 RGB array in 0-255 (`load_image_and_alpha`
    says how)."""
    return load_image_and_alpha(path, max_pixels, longest_side)[0]


def load_image_and_alpha(path: str, max_pixels: int = DEFAULT_MAX_PIXELS,
                         longest_side: Optional[int] = None
                         ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Reads an image file as an (H, W, 3) float32 RGB array in 0-255, and its opacity
    (H, W) in [0, 1] where it has transparency (else None).

    Handles EXIF orientation, embedded colour profiles (converted to sRGB), grayscale,
    palette, alpha (composited on white), CMYK, and 16-bit or float grayscale (scaled to
    8-bit range); HEIC/HEIF when pillow-heif is installed.

    Refuses, with an ImageError, anything but a regular file, an image of more than
    `max_pixels` (checked before decoding), PNG chunks whose checksums fail, a JPEG whose
    marker structure is broken or cut short, and non-finite pixels. When the caller will
    shrink the image so its longest side is `longest_side`, a large image is decoded at
    reduced size (JPEG DCT scaling, else an integer box reduction) to no less than twice
    that, so a huge photo costs what its decoded pixels cost and not four times more.
    """
    heif_readable = _register_heif_opener()
    image_checks.check_regular_file(path)
    try:
        checked = image_checks.checked_stream(path)
        source = path if checked is None else io.BytesIO(checked)
        with _pillow_checks_left_to_us() as caught, stderr.held_back() as decoder_output, \
                Image.open(source) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"image {path} is {width}x{height} px ({width * height / 1e6:.0f} MP), over "
                    f"the limit of {max_pixels / 1e6:.0f} MP; raise --max_image_megapixels "
                    f"to read it")
            if longest_side and image.format == "JPEG":
                scale = min(1.0, 2.0 * longest_side / max(width, height))
                image.draft("RGB" if image.mode == "RGB" else None,
                            (math.ceil(width * scale), math.ceil(height * scale)))
            image.load()
            image_checks.refuse_if_damaged(path, caught, decoder_output)
            image = _reduced(image, longest_side)
            image = _in_srgb(ImageOps.exif_transpose(image), path)
            return _to_rgb_array(image, path), _alpha_array(image)
    except FileNotFoundError:
        raise ImageError(f"image file not found: {path}") from None
    except PermissionError:
        raise ImageError(f"image file not readable (permission denied): {path}") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"image {path} is too large to decode safely ({error}); raise "
                         f"--max_image_megapixels if it is real") from None
    except UnidentifiedImageError:
        extension = os.path.splitext(path)[1].lower()
        if extension in HEIF_EXTENSIONS and not heif_readable:
            raise ImageError(f"reading HEIC/HEIF needs pillow-heif (pip install -e '.[heif]'): "
                             f"{path}") from None
        if extension == ".avif" and not features.check("avif"):
            raise ImageError(f"this Pillow cannot read AVIF (pip install -U pillow): {path}") from None
        raise ImageError(f"not an image file (or a format Pillow cannot read): {path}") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, MemoryError) as error:
        # Pillow reports truncated and corrupt data as OSError, SyntaxError, ValueError,
        # EOFError or struct.error, depending on the format and where the damage is.
        raise ImageError(f"cannot read image {path}: {image_checks.one_line(error)}") from None


@contextlib.contextmanager
def _pillow_checks_left_to_us() -> Iterator[List[warnings.WarningMessage]]:
    """Pillow's decompression-bomb check off for this block (ours follows `Image.open`,
    before anything is decoded, and says what to do), and Pillow's warnings collected.

    Pillow keeps its limit in a module attribute; it is restored on the way out.
    """
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _reduced(image: Image.Image, longest_side: Optional[int]) -> Image.Image:
    """Shrinks by a whole factor (box filter) while the longest side stays >= 2 * longest_side."""
    if not longest_side:
        return image
    factor = max(image.size) // (2 * longest_side)
    if factor < 2 or image.mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "I", "F", "I;16"):
        return image
    reduced = image.reduce(factor)
    reduced.info = image.info  # keeps the ICC profile and EXIF orientation
    return reduced


def _register_heif_opener() -> bool:
    """Lets Pillow open HEIC/HEIF when pillow-heif is installed; says whether it can."""
    try:
        import pillow_heif  # noqa: PLC0415 - the [heif] extra
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


@functools.lru_cache(maxsize=None)
def srgb_profile() -> bytes:
    """The ICC profile every written image is tagged with: LittleCMS's sRGB.

    LittleCMS stamps the moment it made the profile into its header (bytes 24-35); a fixed
    date keeps our files byte-for-byte reproducible (an interrupted run's output equals an
    uninterrupted one's). The profile carries no ID checksum that this would invalidate.
    """
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return profile[:24] + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + profile[36:]


def _in_srgb(image: Image.Image, path: str) -> Image.Image:
    """The image converted from its embedded ICC profile to sRGB (unchanged without one).

    An sRGB profile is taken as it is; a profile LittleCMS cannot use is reported once
    and the pixels are read as sRGB, as every viewer without colour management would.
    """
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK", "L", "LA", "P", "PA"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if ImageCms.getProfileDescription(source).strip().startswith("sRGB"):
            return image
        if image.mode in ("P", "PA"):
            image = image.convert("RGBA")
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        opaque = image.convert({"RGBA": "RGB", "LA": "L"}.get(image.mode, image.mode))
        converted = ImageCms.profileToProfile(
            opaque, source, ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile())),
            renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError) as error:
        logging.warning("Ignoring the colour profile of %s (%s); reading it as sRGB", path, error)
        return image
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def _to_rgb_array(image: Image.Image, path: str) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ImageError(f"image {path} has pixels that are not numbers (NaN or infinity); "
                             f"the input is damaged, or not a picture")
        if image.mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0  # 16-bit 0-65535 onto 0-255
        elif image.mode == "F" and values.max(initial=0) <= 1.0:
            values = values * 255.0
        gray = np.clip(values, 0, 255).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def _alpha_array(image: Image.Image) -> Optional[np.ndarray]:
    """The image's opacity in [0, 1], or None when it has no alpha or is opaque everywhere.
    Pillow decodes a 16-bit colour PNG to 8 bits, alpha included."""
    if image.mode not in ("RGBA", "LA", "PA", "P") and "transparency" not in image.info:
        return None
    if image.mode == "P" and "transparency" not in image.info:
        return None
    alpha = np.asarray(image.convert("RGBA").getchannel("A"), np.float32) / 255.0
    return None if alpha.min() >= 1.0 else alpha


def bit_depth(path: str) -> int:
    """Bits a channel the file holds: 16 for a 16-bit PNG or TIFF, else 8. Reads the
    header only; 8 for anything it cannot read (`load_image` reports that)."""
    try:
        with open(path, "rb") as file:
            header = file.read(32)
    except OSError:
        return 8
    if header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR":
        return 16 if header[24] == 16 else 8
    if header[:4] in (b"II*\0", b"MM\0*"):
        with _pillow_checks_left_to_us(), contextlib.suppress(Exception), Image.open(path) as image:
            bits = image.tag_v2.get(258, (8,))
            return 16 if max(bits if isinstance(bits, tuple) else (bits,)) == 16 else 8
    return 8


def resize_longest_side(image: np.ndarray, longest_side: int) -> np.ndarray:
    """Resizes so the longer side is `longest_side` px, keeping the aspect ratio."""
    height, width = image.shape[:2]
    return resize(image, scaled_size(height, width, longest_side))


def scaled_size(height: int, width: int, longest_side: int) -> Tuple[int, int]:
    """(width, height) of a (height, width) picture whose longer side becomes `longest_side`."""
    scale = longest_side / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def header_size(path: str) -> Optional[Tuple[int, int]]:
    """(height, width) as the file's header says, without decoding it; None when it cannot
    be read (`load_image` then says why)."""
    if not os.path.isfile(path):  # not a FIFO: opening one would block
        return None
    _register_heif_opener()
    try:
        with _pillow_checks_left_to_us(), Image.open(path) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - any damage is load_image's to report, in its words
        return None
    return height, width


def resize(image: np.ndarray, size: Tuple[int, int],
           wrap: Tuple[bool, bool] = (False, False)) -> np.ndarray:
    """Resizes to exactly (width, height) with Lanczos filtering, per channel in float.

    On the axes `wrap` names (rows, columns) the picture is taken as periodic: the filter
    reads past an edge from the opposite one, so a seamless picture stays seamless (with
    the edge clamped, as Pillow does it, its two edges no longer meet)."""
    height, width = image.shape[:2]
    if (width, height) == tuple(size):
        return image.astype(np.float32)
    # Lanczos reads 3 px each side of a sample, in the coarser picture's pixels.
    margin = 1 + int(np.ceil(3 * max(1.0, width / size[0], height / size[1])))
    rows, columns = (margin if wrap[0] else 0), (margin if wrap[1] else 0)
    if rows or columns:
        image = np.pad(image, ((rows, rows), (columns, columns), (0, 0)), mode="wrap")
    box = (columns, rows, columns + width, rows + height)
    channels = [
        np.asarray(Image.fromarray(image[..., c].astype(np.float32), mode="F")
                   .resize(size, Image.Resampling.LANCZOS, box=box))
        for c in range(image.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.float32)


def check_size(image: np.ndarray, what: str) -> None:
    """VGG19 pools four times before block5: refuse images under MIN_IMAGE_SIDE px a side."""
    check_side(*image.shape[:2], what)


def check_side(height: int, width: int, what: str) -> None:
    """`check_size` of a picture known by its (height, width)."""
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ImageError(
            f"{what} is {width}x{height} px; VGG19 needs at least {MIN_IMAGE_SIDE} px a side "
            f"(use a larger image or a larger --size)")


def load_mask(path: str, size: Tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A mask image as (height, width) floats in [0, 1] (white = 1), resized to (width, height)."""
    gray = load_image(path, max_pixels, longest_side=max(size)).mean(axis=-1, keepdims=True) / 255.0
    return np.clip(resize(gray * 255.0, size)[..., 0] / 255.0, 0.0, 1.0)


def side_by_side(pictures: Sequence[np.ndarray], height: int, gap: int = 8) -> np.ndarray:
    """Pictures scaled to one height and set in a row on white, for a contact sheet."""
    scaled = [resize(p, (max(1, round(p.shape[1] * height / p.shape[0])), height)) for p in pictures]
    width = sum(p.shape[1] for p in scaled) + gap * (len(scaled) - 1)
    sheet = np.full((height, width, 3), 255.0, np.float32)
    left = 0
    for picture in scaled:
        sheet[:, left:left + picture.shape[1]] = picture
        left += picture.shape[1] + gap
    return sheet


def repeated(image: np.ndarray, seamless: str) -> np.ndarray:
    """A seamless picture placed twice along the axes it wraps on (x, y or both): where its
    edges meet, a seam would show."""
    return np.tile(image, (2 if seamless in ("y", "both") else 1,
                           2 if seamless in ("x", "both") else 1) + (1,) * (image.ndim - 2))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """0-255 floats to the 8-bit pixels a file holds: rounded and clipped."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@contextlib.contextmanager
def _image_file(path: str) -> Iterator[io.BufferedWriter]:
    """`atomic_write`, with a failed write (a full disk, a read-only folder) as one ImageError."""
    try:
        with atomic_write(path) as file:
            yield file
    except OSError as error:
        raise ImageError(f"cannot write image {path}: {error.strerror or error}") from None


def save_gif(path: str, frames: Sequence[np.ndarray], frame_seconds: float = 0.25) -> None:
    """An animated GIF that loops, written atomically; the last frame is held longer."""
    pictures = [Image.fromarray(to_uint8(frame), mode="RGB") for frame in frames]
    durations = [int(frame_seconds * 1000)] * (len(pictures) - 1) + [int(frame_seconds * 4000)]
    with _image_file(path) as file:
        pictures[0].save(file, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=durations, loop=0)


def save_image(path: str, image: np.ndarray, bits: int = 8,
               alpha: Optional[np.ndarray] = None) -> None:
    """Writes an RGB 0-255 array atomically, tagged sRGB; the format follows the extension
    (PNG if none). `bits=16` writes 16 bits a channel, for PNG and TIFF only. `alpha`
    (H, W) in [0, 1] is written as the picture's opacity where the format holds one
    (not JPEG: there the picture is composited on white, as a viewer would show it).
    """
    extension = os.path.splitext(path)[1].lower()
    image_format = Image.registered_extensions().get(extension, "PNG")
    if alpha is not None and image_format not in ALPHA_FORMATS:
        logging.warning("%s holds no transparency: the picture is composited on white", path)
        image = np.asarray(image, np.float32) * alpha[..., None] + 255.0 * (1.0 - alpha[..., None])
        alpha = None
    if alpha is not None:
        image = np.concatenate([np.asarray(image, np.float32),
                                255.0 * np.clip(alpha, 0.0, 1.0)[..., None]], axis=-1)
    if bits == 16:
        if image_format not in SIXTEEN_BIT_FORMATS:
            raise ValueError(f"16-bit output needs a .png or .tif file. Received: {path}")
        pixels = np.clip(np.rint(np.asarray(image, np.float64) * (65535.0 / 255.0)), 0, 65535)
        write = _png16_bytes if image_format == "PNG" else _tiff16_bytes
        with _image_file(path) as file:
            file.write(write(pixels.astype(np.uint16), srgb_profile()))
        return
    if bits != 8:
        raise ValueError(f"`bits` must be 8 or 16. Received: bits={bits}")
    options = {}
    if image_format in _TAGGED_FORMATS:
        options["icc_profile"] = srgb_profile()
    if image_format in _LOSSY_QUALITY:
        options["quality"] = _LOSSY_QUALITY[image_format]
    mode = "RGBA" if image.shape[-1] == 4 else "RGB"
    with _image_file(path) as file:
        Image.fromarray(to_uint8(image), mode=mode).save(file, format=image_format, **options)


def _png16_bytes(pixels: np.ndarray, icc_profile: bytes) -> bytes:
    """A 16-bit RGB or RGBA PNG (colour type 2 or 6, bit depth 16) with an iCCP chunk;
    Pillow writes no 16-bit colour PNG. Every row uses filter 0 (none); zlib compresses.
    """
    height, width, channels = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = pixels.astype(">u2").view(np.uint8).reshape(height, width * 2 * channels)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 6 if channels == 4 else 2,
                                   0, 0, 0)),
        chunk(b"iCCP", b"sRGB\0\0" + zlib.compress(icc_profile)),
        chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)),
        chunk(b"IEND", b""),
    ))


def _tiff16_bytes(pixels: np.ndarray, icc_profile: bytes) -> bytes:
    """A baseline little-endian TIFF, 16-bit RGB (or RGB and unassociated alpha) in one
    uncompressed strip, with the ICC profile (tag 34675); Pillow writes no 16-bit colour TIFF.
    """
    height, width, channels = pixels.shape
    data = pixels.astype("<u2").tobytes()
    bits_offset = 8 + len(data)
    icc_offset = bits_offset + 2 * channels
    ifd_offset = icc_offset + len(icc_profile) + (len(icc_profile) % 2)  # word-aligned
    if ifd_offset > 2 ** 32 - 256:
        raise ValueError(f"a TIFF holds at most 4 GiB. Received: {width}x{height} px")
    short, long, undefined = 3, 4, 7
    entries = [  # (tag, type, count, value or offset), in tag order
        (256, long, 1, width), (257, long, 1, height), (258, short, channels, bits_offset),
        (259, short, 1, 1), (262, short, 1, 2), (273, long, 1, 8), (277, short, 1, channels),
        (278, long, 1, height), (279, long, 1, len(data)), (284, short, 1, 1),
        *([(338, short, 1, 2)] if channels == 4 else []),  # ExtraSamples: unassociated alpha
        (34675, undefined, len(icc_profile), icc_offset),
    ]
    directory = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHIHH", tag, kind, count, value, 0) if kind == short and count == 1
        else struct.pack("<HHII", tag, kind, count, value)
        for tag, kind, count, value in entries) + struct.pack("<I", 0)
    return b"".join((
        b"II" + struct.pack("<HI", 42, ifd_offset), data, struct.pack(f"<{channels}H",
                                                                       *(16,) * channels),
        icc_profile, b"\0" * (len(icc_profile) % 2), directory,
    ))
