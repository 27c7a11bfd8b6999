"""A transfer's fixed targets, computed once outside the step over the same crops the step
uses (the whole image, or tiles): the content's feature maps, each painting's feature
moments blended or placed by region, and for a video the frame's own targets."""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tf_style import objective
from tf_style.evaluator import Crops, inner_positions
from tf_style.objective import StyleRegion
from tf_style.tile_geometry import layer_factor, layer_shape


@dataclasses.dataclass
class Targets:
    """What the objective's terms compare the image with. Variables where a video's next
    frame assigns its own (`assign_frame`); `content_image` only when a term reads the
    content's pixels (the Laplacian term); `temporal` only for a video: the previous
    stylised frame warped, and where the flow is reliable."""

    content: Dict[str, tf.Variable]
    style_regions: Tuple[StyleRegion, ...]
    content_image: Optional[tf.Variable] = None
    temporal: Optional[Tuple[tf.Variable, tf.Variable]] = None


def make_targets(crops: Crops, content_image: np.ndarray, style_images: Sequence[np.ndarray], *,
                 content_layers: Sequence[str], style_layers: Sequence[str],
                 style_blend: Sequence[float],
                 content_masks: Optional[Sequence[np.ndarray]] = None,
                 style_masks: Optional[Sequence[np.ndarray]] = None,
                 keep_content_image: bool = False, temporal: bool = False) -> Targets:
    """The targets of a content image and its paintings, blended in proportions
    `style_blend` (summing to 1), or with `content_masks` each inside its own region
    (guided statistics); `style_masks` restrict where each painting's statistics come from."""
    height, width = content_image.shape[:2]
    style_moments = []
    for index, style_image in enumerate(style_images):
        mask = style_masks[index] if style_masks else None
        if any(crops.wrap):
            style_moments.append(moments_without_edges(crops, style_image, style_layers, mask))
        else:
            guides = None if mask is None else layer_guides(mask, style_image.shape[:2],
                                                             style_layers)
            style_moments.append(moments(crops, style_image, style_layers, guides))
    with crops.on_state_device():
        content = {name: tf.Variable(values, trainable=False, name=name) for name, values in
                   stitched_features(crops, content_image, content_layers).items()}
        if content_masks:
            regions = tuple(
                StyleRegion(float(weight), region_moments,
                            layer_guides(mask, (height, width), style_layers))
                for weight, region_moments, mask in zip(style_blend, style_moments, content_masks))
        else:
            regions = (StyleRegion(1.0, {
                name: objective.blend([each[name] for each in style_moments], style_blend)
                for name in style_layers}),)
        image = None
        if keep_content_image:
            image = tf.Variable(content_image[None].astype(np.float32), trainable=False,
                                name="content_image")
        temporal_targets = None
        if temporal:
            # All-zero weights (the first frame) leave the loss as a picture's.
            temporal_targets = (
                tf.Variable(tf.zeros((1, height, width, 3)), trainable=False, name="temporal_target"),
                tf.Variable(tf.zeros((1, height, width, 1)), trainable=False,
                            name="temporal_weights"))
    return Targets(content, regions, image, temporal_targets)


def assign_frame(targets: Targets, crops: Crops, content_image: np.ndarray,
                 warped: Optional[np.ndarray] = None,
                 reliable: Optional[np.ndarray] = None) -> None:
    """Moves a video's targets on to a frame: its content, and for the temporal term the
    previous result `warped` and where it is `reliable` (H, W) (None: no temporal term)."""
    features = stitched_features(crops, content_image, tuple(targets.content))
    for name, variable in targets.content.items():
        variable.assign(features[name])
    if targets.content_image is not None:
        targets.content_image.assign(content_image[None].astype(np.float32))
    if targets.temporal is not None:
        warped_target, weights = targets.temporal
        if warped is None:
            weights.assign(tf.zeros_like(weights))
        else:
            warped_target.assign(warped[None].astype(np.float32))
            weights.assign(reliable[None, :, :, None].astype(np.float32))


def stitched_features(crops: Crops, image: np.ndarray,
                      layer_names: Sequence[str]) -> Dict[str, np.ndarray]:
    """The whole image's feature maps of `layer_names`, crop by crop, in the features' own
    precision."""
    height, width = image.shape[:2]
    maps = {}
    if not layer_names:  # a texture: no photo to see
        return maps
    for tile, inner in crops.features_by_tile(image, layer_names):
        for name in layer_names:
            values = inner[name]
            if name not in maps:
                maps[name] = np.zeros((1, *layer_shape(height, width, name), values.shape[-1]),
                                      values.dtype.as_numpy_dtype)
            factor = layer_factor(name)
            top, left = tile.inner[0] // factor, tile.inner[2] // factor
            maps[name][:, top:top + values.shape[1], left:left + values.shape[2]] = values.numpy()
    return maps


def moments(crops: Crops, image: np.ndarray, layer_names: Sequence[str],
            guides: Optional[Dict[str, tf.Tensor]] = None) -> Dict[str, objective.Moments]:
    """The `objective.Moments` of the image's features (guided by per-layer `guides` when
    given), summed crop by crop."""
    sums = {name: None for name in layer_names}
    for tile, inner in crops.features_by_tile(image, layer_names):
        for name in layer_names:
            guide = None if guides is None else inner_positions(guides[name], name, tile)
            tile_sums = objective.moment_sums(inner[name], guide)
            sums[name] = tile_sums if sums[name] is None else tf.nest.map_structure(
                tf.add, sums[name], tile_sums)
    return {name: objective.moments_from_sums(sums[name]) for name in layer_names}


def moments_without_edges(crops: Crops, image: np.ndarray, layer_names: Sequence[str],
                          mask: Optional[np.ndarray] = None) -> Dict[str, objective.Moments]:
    """The moments of a painting for a seamless picture, which has no edge on the axes that
    wrap (`crops.wrap`): the painting mirrored out past those edges as far as the deepest
    layer sees (`Crops.halo`), its statistics taken over its own positions (in `mask`, when
    given). Seen with its edges, through zero padding or wrapped onto its opposite edge, the
    painting's edge answers are part of the targets and the picture makes them (measured in
    docs/artistic-controls.md: grey patches on random weights, framing lines on trained)."""
    before, after = crops.halo(layer_names)
    widths = [(before, after) if wraps else (0, 0) for wraps in crops.wrap] + [(0, 0)]
    extended = np.pad(image, widths, mode="symmetric")
    inside = np.zeros(extended.shape[:2], np.float32)
    rows, columns = (slice(start, start + side) for (start, _), side in zip(widths, image.shape[:2]))
    inside[rows, columns] = 1.0 if mask is None else mask
    return moments(crops, extended, layer_names, layer_guides(inside, extended.shape[:2],
                                                               layer_names))


def layer_guides(mask: np.ndarray, image_size: Tuple[int, int],
                 layer_names: Sequence[str]) -> Dict[str, tf.Tensor]:
    """A (H, W) mask in [0, 1] averaged down to each layer's resolution."""
    mask = tf.constant(mask[None, :, :, None], tf.float32)
    return {name: tf.constant(tf.image.resize(mask, layer_shape(*image_size, name),
                                              method="area")) for name in layer_names}
