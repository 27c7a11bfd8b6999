"""How good a stylised picture is, measured without any ImageNet network (and without our
loss network, which would grade its own homework). NumPy only.

- Style distance: the sliced Wasserstein distance between the distributions of
  7x7 patches of the output and of the painting, at each level of a Laplacian pyramid
  (Karras et al. 2018, the ProGAN metric), and between their RGB pixel distributions.
- Content score: the correlation of the Laplacian of blurred luminance of the output and
  of the photo, at a quarter of the resolution: the photo's structure, not its texture.
- Coarse structure: the correlation of the luminance of the output and of the photo
  blurred and halved 3 or 4 times (1/8, 1/16): where the big shapes are.
- Feature content distance: ||F - P||^2 / ||P||^2 between a judging network's features
  of the output and of the photo (computed by the caller; docs/style-losses.md judges with
  ImageNet VGG16 and its trained max pooling). Above 1, the output's features are further
  from the photo's than all-zero features would be.

A measure of one side alone rewards the extreme on that side (the photo itself has the
best content score), so they are reported together, as a point on a plane.
"""

from __future__ import annotations

import dataclasses
from typing import List

import numpy as np

PATCH = 7  # px, as in ProGAN
PATCHES_PER_LEVEL = 4096
DIRECTIONS = 512
SMALLEST_LEVEL = 16  # px: the pyramid stops before a level's shorter side falls below this
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
_LUMA = np.array([0.299, 0.587, 0.114])


def _blur(image: np.ndarray) -> np.ndarray:
    """The 5x5 binomial filter, separable, with reflected borders. (H, W, C) float64."""
    padded = np.pad(image, ((2, 2), (0, 0), (0, 0)), mode="reflect")
    image = sum(weight * padded[index:index + image.shape[0]] for index, weight in enumerate(_BINOMIAL))
    padded = np.pad(image, ((0, 0), (2, 2), (0, 0)), mode="reflect")
    return sum(weight * padded[:, index:index + image.shape[1]]
               for index, weight in enumerate(_BINOMIAL))


def _downsample(image: np.ndarray) -> np.ndarray:
    return _blur(image)[::2, ::2]


def _upsample(image: np.ndarray, shape) -> np.ndarray:
    larger = np.zeros((shape[0], shape[1], image.shape[2]))
    larger[::2, ::2] = image[:(shape[0] + 1) // 2, :(shape[1] + 1) // 2]
    return 4.0 * _blur(larger)


def laplacian_pyramid(image: np.ndarray) -> List[np.ndarray]:
    """Band-pass levels of an (H, W, 3) image in [0, 1], finest first; the last is the
    coarsest Gaussian level itself."""
    levels, current = [], image.astype(np.float64)
    while min(current.shape[:2]) // 2 >= SMALLEST_LEVEL:
        smaller = _downsample(current)
        levels.append(current - _upsample(smaller, current.shape))
        current = smaller
    levels.append(current)
    return levels


def _patches(level: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random 7x7 patches of a level, (count, 7, 7, C)."""
    rows = rng.integers(0, level.shape[0] - PATCH + 1, count)
    columns = rng.integers(0, level.shape[1] - PATCH + 1, count)
    offsets = np.arange(PATCH)
    return level[rows[:, None, None] + offsets[None, :, None],
                 columns[:, None, None] + offsets[None, None, :]]


def _normalised(patches: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Patches as rows, each channel in units of the reference set's mean and deviation.
    ProGAN normalises each set by its own; by the painting's, a blurred picture's weaker
    fine detail counts against it instead of being scaled back up."""
    mean, deviation = reference.mean(axis=(0, 1, 2)), reference.std(axis=(0, 1, 2)) + 1e-8
    return ((patches - mean) / deviation).reshape(len(patches), -1)


def sliced_wasserstein(first: np.ndarray, second: np.ndarray, rng: np.random.Generator,
                       directions: int = DIRECTIONS) -> float:
    """The mean over random unit directions of the 1-D Wasserstein-1 distance between the
    projections of two equally many rows."""
    axes = rng.normal(size=(first.shape[1], directions))
    axes /= np.linalg.norm(axes, axis=0, keepdims=True)
    return float(np.mean(np.abs(np.sort(first @ axes, axis=0) - np.sort(second @ axes, axis=0))))


@dataclasses.dataclass(frozen=True)
class StyleDistance:
    patches: float  # mean over pyramid levels of the patches' sliced Wasserstein distance
    colours: float  # sliced Wasserstein distance between RGB pixels, 0-1 units


def style_distance(image: np.ndarray, style: np.ndarray, seed: int = 0) -> StyleDistance:
    """How far an (H, W, 3) 0-255 image's patches and colours are from a painting's.
    Identical images at the same seed are 0 apart."""
    image, style = image / 255.0, style / 255.0
    image_levels, style_levels = laplacian_pyramid(image), laplacian_pyramid(style)
    distances = []
    for index, (mine, theirs) in enumerate(zip(image_levels, style_levels)):
        if min(*mine.shape[:2], *theirs.shape[:2]) < PATCH:
            break
        # The same generator state for both sets: identical images give identical patches.
        count = PATCHES_PER_LEVEL
        first = _patches(mine, count, np.random.default_rng([seed, index]))
        second = _patches(theirs, count, np.random.default_rng([seed, index]))
        first, second = _normalised(first, second), _normalised(second, second)
        distances.append(sliced_wasserstein(first, second, np.random.default_rng([seed, 99, index])))
    pixels = PATCHES_PER_LEVEL * 4
    colours = [source.reshape(-1, 3)[np.random.default_rng([seed, 7]).integers(
        0, source.shape[0] * source.shape[1], pixels)] for source in (image, style)]
    return StyleDistance(float(np.mean(distances)),
                         sliced_wasserstein(*colours, np.random.default_rng([seed, 8]), directions=64))


def _structure(image: np.ndarray) -> np.ndarray:
    """The Laplacian of the blurred luminance at a quarter of the resolution."""
    luminance = (image.astype(np.float64) / 255.0) @ _LUMA
    quarter = _downsample(_downsample(luminance[:, :, None]))[:, :, 0]
    return (4 * quarter[1:-1, 1:-1] - quarter[:-2, 1:-1] - quarter[2:, 1:-1]
            - quarter[1:-1, :-2] - quarter[1:-1, 2:])


def content_score(image: np.ndarray, content: np.ndarray) -> float:
    """The correlation (-1 to 1; 1 = the same structure) between the blurred luminance
    Laplacians of two (H, W, 3) 0-255 images of one size."""
    if image.shape != content.shape:
        raise ValueError(f"The images differ in size. Received: {image.shape} and {content.shape}")
    mine, theirs = _structure(image).ravel(), _structure(content).ravel()
    mine, theirs = mine - mine.mean(), theirs - theirs.mean()
    return float(mine @ theirs / (np.linalg.norm(mine) * np.linalg.norm(theirs) + 1e-12))


def coarse_structure_score(image: np.ndarray, content: np.ndarray, octaves: int = 3) -> float:
    """The correlation (-1 to 1) of two (H, W, 3) 0-255 images' luminance, each blurred and
    halved `octaves` times (3: 1/8 of the size)."""
    if image.shape != content.shape:
        raise ValueError(f"The images differ in size. Received: {image.shape} and {content.shape}")
    coarse = []
    for picture in (image, content):
        luminance = (np.asarray(picture, np.float64) @ _LUMA)[..., None]
        for _ in range(octaves):
            luminance = _downsample(luminance)
        coarse.append(luminance.ravel() - luminance.mean())
    mine, theirs = coarse
    return float(mine @ theirs / (np.linalg.norm(mine) * np.linalg.norm(theirs) + 1e-12))


def feature_content_distance(features: np.ndarray, content_features: np.ndarray) -> float:
    """||F - P||^2 / ||P||^2 of a network's features of a picture (F) and of the photo (P):
    0 for the photo's own, 1 for all-zero features."""
    features = np.asarray(features, np.float64)
    content_features = np.asarray(content_features, np.float64)
    if features.shape != content_features.shape:
        raise ValueError(f"The features differ in shape. Received: {features.shape} and "
                         f"{content_features.shape}")
    return float(np.sum((features - content_features) ** 2) / np.sum(content_features ** 2))


def halves(image: np.ndarray):
    """The two halves of an image across its longer side: the floor of the style distance
    is between a painting's own halves."""
    if image.shape[1] >= image.shape[0]:
        middle = image.shape[1] // 2
        return image[:, :middle], image[:, middle:2 * middle]
    middle = image.shape[0] // 2
    return image[:middle], image[middle:2 * middle]


def seam_ratio(image: np.ndarray, axis: str = "x") -> float:
    """How visible a picture's seam is when it is tiled along `axis` (x: its right edge
    meets its left; y: its bottom meets its top): the mean absolute difference (0-255)
    between the last and first column (row), over the median of that difference between
    neighbouring columns (rows) inside it. Near 1 or below: no seam to see."""
    if axis not in ("x", "y"):
        raise ValueError(f"`axis` must be x or y. Received: axis={axis!r}")
    lines = np.asarray(image, np.float64)
    if axis == "y":
        lines = lines.transpose(1, 0, 2)
    inside = np.abs(np.diff(lines, axis=1)).mean(axis=(0, 2))
    return float(np.abs(lines[:, -1] - lines[:, 0]).mean() / max(np.median(inside), 1e-12))
