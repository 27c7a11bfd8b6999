"""The pictures a run optimises with, loaded and prepared at one scale.

Loading touches no run directory, so every input is checked before a run claims one.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import numpy as np

from tf_style import color, images
from tf_style.architecture import MIN_IMAGE_SIDE
from tf_style.config import TransferConfig
from tf_style.tile_geometry import ALIGNMENT


# The grey (0-255) that stands for a texture's missing photo.
TEXTURE_GROUND = 127.5


@dataclasses.dataclass(frozen=True)
class PreparedInputs:
    """The images at one scale as the optimisation sees them, and what is needed to show its result."""

    content_image: np.ndarray  # what the content loss matches (luminance only, in that mode)
    style_images: Tuple[np.ndarray, ...]  # recoloured or luminance-only, with --preserve_colors
    initial_image: np.ndarray
    content_masks: Optional[Tuple[np.ndarray, ...]]
    style_masks: Optional[Tuple[np.ndarray, ...]]
    original_content: np.ndarray
    original_styles: Tuple[np.ndarray, ...]
    preserve_colors: Optional[str]
    alpha: Optional[np.ndarray] = None  # the photo's opacity (H, W) in [0, 1], if it has any
    content_bits: int = 8  # bits a channel of the photo's file: 16 or 8

    @classmethod
    def from_arrays(cls, content: np.ndarray, styles: Sequence[np.ndarray],
                    initial: Optional[np.ndarray] = None,
                    content_masks: Optional[Sequence[np.ndarray]] = None,
                    style_masks: Optional[Sequence[np.ndarray]] = None) -> "PreparedInputs":
        """Inputs from RGB 0-255 arrays already at their working size (masks: (H, W) in [0, 1])."""
        content = np.asarray(content, np.float32)
        styles = tuple(np.asarray(style, np.float32) for style in styles)
        initial = content if initial is None else np.asarray(initial, np.float32)
        return cls(content, styles, initial, tuple(content_masks) if content_masks else None,
                   tuple(style_masks) if style_masks else None, content, styles, None)

    def present(self, image: np.ndarray) -> np.ndarray:
        """The optimised image as a person sees it: with luminance transfer, in the photo's colours."""
        if self.preserve_colors == "luminance":
            return color.with_content_colors(image, self.original_content)
        return image

    def upsampled(self, image: np.ndarray, with_detail: bool = True,
                  wrap: Tuple[bool, bool] = (False, False)) -> np.ndarray:
        """The start of this scale from a coarser scale's result: the result brought to this
        scale's size (periodic on the axes `wrap` names), plus (`with_detail`) the detail of
        this scale's own start image (the photo, by default) that a picture of the coarser
        size cannot hold: its band of a Laplacian pyramid. Upsampled alone, the start is a
        blur the full-size steps must sharpen (at 512 px on random weights they took 80
        steps to 40 with the detail, and left the façades softer)."""
        height, width = self.content_image.shape[:2]
        coarse_size = (image.shape[1], image.shape[0])
        upsampled = images.resize(image, (width, height), wrap)
        if not with_detail:
            return upsampled
        detail = self.initial_image - images.resize(
            images.resize(self.initial_image, coarse_size), (width, height))
        return np.clip(upsampled + detail, 0, 255).astype(np.float32)


def prepare_inputs(config: TransferConfig, size: Optional[int] = None,
                   content: Optional[np.ndarray] = None) -> PreparedInputs:
    """Loads the images and masks at `size` (default `config.size`); touches no run directory.

    `content`, when given, is the photo (a video's first frame) instead of `config.content`."""
    size = size or config.size
    max_pixels = config.max_image_megapixels * 1_000_000
    if config.is_texture:
        width, height = images.scaled_size(*config.texture_shape, size)
        # A texture has no photo: a flat grey stands in for its size; no term reads it.
        original_content = np.full((height, width, 3), TEXTURE_GROUND, np.float32)
    alpha, content_bits = None, 8
    if not config.is_texture:
        if content is None:
            content, alpha = _load_checked(config.content, "content image", max_pixels, size,
                                           with_alpha=True)
            content_bits = images.bit_depth(config.content)
        original_content = images.resize_longest_side(content, size)
    if any(config.wrap_axes):
        original_content = images.resize(original_content, wrapped_size(
            original_content.shape[:2], config.wrap_axes))
    if alpha is not None:
        height, width = original_content.shape[:2]
        alpha = np.clip(images.resize(alpha[..., None], (width, height))[..., 0], 0.0, 1.0)
    images.check_size(original_content, f"content image {config.content} at {size} px")
    content_height, content_width = original_content.shape[:2]
    style_longest = max(1, round(max(content_height, content_width) * config.style_scale))
    original_styles = []
    for path in config.style:
        style_image = images.resize_longest_side(
            _load_checked(path, "style image", max_pixels, style_longest), style_longest)
        images.check_size(style_image, f"style image {path} at --style_scale {config.style_scale} "
                                       f"and {size} px")
        original_styles.append(style_image)

    return dataclasses.replace(_prepared(config, original_content, original_styles, max_pixels),
                               alpha=alpha, content_bits=content_bits)


def wrapped_size(shape: Tuple[int, int], wrap: Tuple[bool, bool]) -> Tuple[int, int]:
    """(width, height) of a seamless picture of `shape` (height, width): each side that wraps
    around (`wrap`: rows, columns) to the nearest multiple of 16 px, at least 32, so that
    every pool of the network keeps it periodic (`vgg.build_vgg`)."""
    def rounded(side: int, wraps: bool) -> int:
        return max(MIN_IMAGE_SIDE, ALIGNMENT * int(side / ALIGNMENT + 0.5)) if wraps else side
    return rounded(shape[1], wrap[1]), rounded(shape[0], wrap[0])


def prepare_frame(config: TransferConfig, frame: np.ndarray, first: PreparedInputs) -> PreparedInputs:
    """A video frame (already at its working size) prepared as `prepare_inputs` prepares a
    photo, with the style images `first` (the first frame's inputs) loaded."""
    max_pixels = config.max_image_megapixels * 1_000_000
    return _prepared(config, np.asarray(frame, np.float32), first.original_styles, max_pixels)


def _prepared(config: TransferConfig, original_content: np.ndarray,
              original_styles: Sequence[np.ndarray], max_pixels: int) -> PreparedInputs:
    content_image, style_images = original_content, original_styles
    if config.preserve_colors == "histogram":
        style_images = [color.match_color_histogram(s, original_content) for s in original_styles]
    elif config.preserve_colors == "luminance":
        content_image = color.luminance_image(original_content)
        style_images = [color.match_luminance(s, original_content) for s in original_styles]

    content_masks = tuple(_load_mask(path, original_content, max_pixels)
                          for path in config.content_mask)
    style_masks = tuple(_load_mask(path, s, max_pixels)
                        for path, s in zip(config.style_mask, style_images))
    initial_image = _initial_image(config, content_image, style_images[0], max_pixels)
    if config.preserve_colors == "luminance":
        initial_image = color.luminance_image(initial_image)
    return PreparedInputs(
        content_image, tuple(style_images), initial_image, content_masks or None,
        style_masks or None, original_content, tuple(original_styles), config.preserve_colors)


def _load_checked(path: str, what: str, max_pixels: int, longest_side: int,
                  with_alpha: bool = False):
    """Loads an image (and with `with_alpha` its opacity, or None) and refuses one too small
    to say anything to VGG19, before resizing."""
    image, alpha = images.load_image_and_alpha(path, max_pixels=max_pixels,
                                               longest_side=longest_side)
    images.check_size(image, f"{what} {path}")
    return (image, alpha) if with_alpha else image


def _load_mask(path: str, like: np.ndarray, max_pixels: int) -> np.ndarray:
    mask = images.load_mask(path, (like.shape[1], like.shape[0]), max_pixels)
    if mask.max() < 0.5:
        raise images.ImageError(f"mask {path} marks no region (it has no white area)")
    return mask


def _initial_image(config: TransferConfig, content_image: np.ndarray,
                   style_image: np.ndarray, max_pixels: int) -> np.ndarray:
    size = (content_image.shape[1], content_image.shape[0])
    ratio = config.init_noise_ratio
    if config.init == "content" and ratio == 0:
        return content_image  # not a copy: at 8K each is 0.4 GB, held for the whole run
    noise = np.random.default_rng(config.seed).uniform(0.0, 255.0, content_image.shape)
    if config.init == "noise":
        return noise.astype(np.float32)
    if config.init == "content":
        start = content_image
    elif config.init == "style":
        start = images.resize(style_image, size)
    else:  # anything else names an image file (e.g. an earlier result to start from)
        start = images.resize(
            images.load_image(config.init, max_pixels=max_pixels, longest_side=max(size)), size)
    return ((1.0 - ratio) * start + ratio * noise).astype(np.float32)
