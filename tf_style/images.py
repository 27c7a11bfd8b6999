"""Images in and out: any common file to RGB float32 in 0-255, resized; atomic writes."""

from __future__ import annotations

import os
from typing import Sequence, Tuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tf_style.files import atomic_write
from tf_style.config import MIN_IMAGE_SIDE
from tf_style.errors import TransferError


class ImageError(TransferError):
    """An image file that is missing, unreadable, not an image, truncated or too small."""


def load_image(path: str) -> np.ndarray:
    """Reads an image file as an (H, W, 3) float32 RGB array in 0-255.

    Handles EXIF orientation, grayscale, palette, alpha (composited on white),
    CMYK, and 16-bit or float grayscale (scaled to 8-bit range).
    """
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            return _to_rgb_array(image)
    except FileNotFoundError:
        raise ImageError(f"image file not found: {path}") from None
    except IsADirectoryError:
        raise ImageError(f"expected an image file, got a directory: {path}") from None
    except PermissionError:
        raise ImageError(f"image file not readable (permission denied): {path}") from None
    except UnidentifiedImageError:
        raise ImageError(f"not an image file (or a format Pillow cannot read): {path}") from None
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow reports truncated and corrupt data as OSError or SyntaxError.
        raise ImageError(f"cannot read image {path}: {error}") from None


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
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


def resize_longest_side(image: np.ndarray, longest_side: int) -> np.ndarray:
    """Resizes so the longer side is `longest_side` px, keeping the aspect ratio."""
    height, width = image.shape[:2]
    scale = longest_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return resize(image, size)


def resize(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Resizes to exactly (width, height) with Lanczos filtering, per channel in float."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image.astype(np.float32)
    channels = [
        np.asarray(Image.fromarray(image[..., c].astype(np.float32), mode="F")
                   .resize(size, Image.Resampling.LANCZOS))
        for c in range(image.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.float32)


def check_size(image: np.ndarray, what: str) -> None:
    """VGG19 pools four times before block5: refuse images under MIN_IMAGE_SIDE px a side."""
    height, width = image.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ImageError(
            f"{what} is {width}x{height} px; VGG19 needs at least {MIN_IMAGE_SIDE} px a side "
            f"(use a larger image or a larger --size)")


def load_mask(path: str, size: Tuple[int, int]) -> np.ndarray:
    """A mask image as (height, width) floats in [0, 1] (white = 1), resized to (width, height)."""
    gray = load_image(path).mean(axis=-1, keepdims=True) / 255.0
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


def to_uint8(image: np.ndarray) -> np.ndarray:
    """0-255 floats to the 8-bit pixels a file holds: rounded and clipped."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def save_gif(path: str, frames: Sequence[np.ndarray], frame_seconds: float = 0.25) -> None:
    """An animated GIF that loops, written atomically; the last frame is held longer."""
    pictures = [Image.fromarray(to_uint8(frame), mode="RGB") for frame in frames]
    durations = [int(frame_seconds * 1000)] * (len(pictures) - 1) + [int(frame_seconds * 4000)]
    with atomic_write(path) as file:
        pictures[0].save(file, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=durations, loop=0)


def save_image(path: str, image: np.ndarray) -> None:
    """Writes an RGB 0-255 array atomically; the format follows the extension (PNG if none)."""
    extension = os.path.splitext(path)[1].lower()
    image_format = Image.registered_extensions().get(extension, "PNG")
    with atomic_write(path) as file:
        Image.fromarray(to_uint8(image), mode="RGB").save(file, format=image_format)
