"""What a finished run leaves for people: the final image, and with --gif / --sheet more."""

from __future__ import annotations

import glob
import os
from typing import Optional

import numpy as np
from absl import logging

from tf_style import images, run_identity
from tf_style.config import SIXTEEN_BIT_EXTENSIONS, TransferConfig
from tf_style.errors import TransferError
from tf_style.inputs import PreparedInputs
from tf_style.run_directory import GIF_FILE, IMAGE_DIR, SHEET_FILE


def check_writable(path: str) -> None:
    """Refuses, before any step, an output file whose folder cannot be written; writes nothing."""
    directory = os.path.dirname(os.path.abspath(path))
    existing = directory
    while not os.path.isdir(existing):
        parent = os.path.dirname(existing)
        if parent == existing or os.path.exists(existing):
            raise TransferError(f"cannot write --output {path}: {existing} is not a folder")
        existing = parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TransferError(f"cannot write --output {path}: {existing} is not writable")
    if os.path.isdir(path):
        raise TransferError(f"cannot write --output {path}: it is a folder")


def write_outputs(config: TransferConfig, inputs: PreparedInputs, result: np.ndarray,
                  steps: int) -> None:
    """The result at `run_identity.output_path(config)`, then the GIF and the sheet when asked for."""
    images.save_image(run_identity.output_path(config), result,
                      bits=output_bits(config, inputs), alpha=inputs.alpha)
    logging.info("Wrote %s after %d steps", run_identity.output_path(config), steps)
    if config.gif:
        write_gif(run_identity.run_dir(config), result)
    if config.sheet:
        write_sheet(run_identity.run_dir(config), inputs, result, texture=config.is_texture,
                    seamless=config.seamless)


def output_bits(config: TransferConfig, inputs: PreparedInputs) -> int:
    """--output_bits, or the photo's: 16 from a 16-bit file into a .png or .tif, else 8."""
    if config.output_bits is not None:
        return config.output_bits
    extension = os.path.splitext(run_identity.output_path(config))[1].lower()
    return 16 if inputs.content_bits == 16 and extension in SIXTEEN_BIT_EXTENSIONS else 8


def write_gif(run_dir: str, result: np.ndarray) -> None:
    """The run's progression from its intermediate images, ending on the result."""
    frame_paths = sorted(glob.glob(os.path.join(run_dir, IMAGE_DIR, "step_*.png")))
    frames = [images.load_image(path) for path in frame_paths]
    frames = [frame for frame in frames if frame.shape == result.shape]
    if not frames or not np.array_equal(frames[-1], images.to_uint8(result)):
        frames.append(result)
    gif_path = os.path.join(run_dir, GIF_FILE)
    images.save_gif(gif_path, frames)
    logging.info("Wrote %s (%d frames)", gif_path, len(frames))


def write_sheet(run_dir: str, inputs: PreparedInputs, result: np.ndarray,
                texture: bool = False, seamless: Optional[str] = None) -> None:
    """content | style(s) | result at the result's height (a texture: no content); a
    seamless result repeated 2x2 (`seamless`: along x, y or both), so a seam would show."""
    sheet_path = os.path.join(run_dir, SHEET_FILE)
    shown = images.repeated(result, seamless) if seamless else result
    pictures = [*([] if texture else [inputs.original_content]), *inputs.original_styles, shown]
    images.save_image(sheet_path, images.side_by_side(pictures, height=shown.shape[0]))
    logging.info("Wrote %s", sheet_path)
