"""The exact loss and gradient of a `StyleTransfer` computed over tiles of the image.

Every feature term of the objective is a function of sums over feature positions
(`objective.FeatureTerm`), so (Galerne et al., "Scaling Painting Style Transfer", EGSR
2024, in spirit; our own code):

1. Pass 1: for each tile, the network runs on the tile plus a halo, with no tape, and each
   term's statistics are summed over the tile's *inner* feature positions. Added up over
   the tiles they are the whole image's.
2. Middle: the losses from those sums, under a tape, and their gradient with respect to
   the sums, dL/dS.
3. Pass 2: each tile again under a tape; the gradient of <dL/dS, S_tile> with respect to
   the crop, halo included, is added into the image's gradient (overlap-add). By the chain
   rule that is dL/dimage: no term needs a hand-derived gradient.

A feature at an inner position sees the same pixels in the crop as in the whole image
when the halo covers its receptive field on each side (`halo_sides`), and tiles at the
image border get no halo there, so they see the image's own zero padding. Tile offsets
are multiples of 16, so the four 2x2 pools line up with the whole image's. The image
terms (total variation, ...) are computed on the whole image: they are cheap.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tf_style import objective, vgg
from tf_style.tile_geometry import Tile, halo_for, layer_factor, layer_shape, tiles_covering


def inner_features(features: Callable[[tf.Tensor], Dict[str, tf.Tensor]], image: np.ndarray,
                   tile_size: int, layer_names: Sequence[str], model: str = "vgg19"
                   ) -> Iterator[Tuple[Tile, Dict[str, tf.Tensor]]]:
    """Each tile of an (H, W, 3) image with the features at its inner positions, as the
    whole image's forward pass would give them (no tape)."""
    height, width = image.shape[:2]
    for tile in tiles_covering(height, width, tile_size, halo_for(layer_names, model)):
        top, bottom, left, right = tile.crop
        crop_features = features(tf.constant(image[None, top:bottom, left:right], tf.float32))
        inner = {}
        for name in layer_names:
            factor = layer_factor(name)
            first_row, last_row = (tile.inner[0] - top) // factor, (tile.inner[1] - top) // factor
            first_col, last_col = (tile.inner[2] - left) // factor, (tile.inner[3] - left) // factor
            inner[name] = crop_features[name][:, first_row:last_row, first_col:last_col, :]
        yield tile, inner


def stitched_features(features: Callable[[tf.Tensor], Dict[str, tf.Tensor]], image: np.ndarray,
                      tile_size: int, layer_names: Sequence[str],
                      device: Optional[str] = None, model: str = "vgg19") -> Dict[str, tf.Tensor]:
    """The whole image's feature maps of `layer_names` in `model`, computed tile by tile, in
    the features' own precision; kept on `device` (None: TensorFlow's default)."""
    height, width = image.shape[:2]
    maps = {}
    for tile, inner in inner_features(features, image, tile_size, layer_names, model):
        for name, values in inner.items():
            if name not in maps:
                maps[name] = np.zeros((1, *layer_shape(height, width, name), values.shape[-1]),
                                      values.dtype.as_numpy_dtype)
            factor = layer_factor(name)
            top, left = tile.inner[0] // factor, tile.inner[2] // factor
            maps[name][:, top:top + values.shape[1], left:left + values.shape[2]] = values.numpy()
    with tf.device(device) if device else contextlib.nullcontext():
        return {name: tf.constant(values) for name, values in maps.items()}


def tiled_moments(features: Callable[[tf.Tensor], Dict[str, tf.Tensor]], image: np.ndarray,
                  tile_size: int, layer_names: Sequence[str],
                  guides: Optional[Dict[str, tf.Tensor]] = None, model: str = "vgg19"
                  ) -> Dict[str, objective.Moments]:
    """The `objective.Moments` of the whole image's features in `model` (guided by per-layer
    `guides` when given), computed tile by tile."""
    sums = {name: None for name in layer_names}
    for tile, inner in inner_features(features, image, tile_size, layer_names, model):
        for name, values in inner.items():
            guide = None if guides is None else _inner_positions(guides[name], name, tile)
            tile_sums = objective.moment_sums(values, guide)
            sums[name] = tile_sums if sums[name] is None else tf.nest.map_structure(
                tf.add, sums[name], tile_sums)
    return {name: objective.moments_from_sums(sums[name]) for name in layer_names}


class TiledObjective:
    """The loss and its gradient for a `StyleTransfer`'s image, computed tile by tile.

    Equal to the whole-image `compute_losses` and its gradient up to the rounding of the
    precision the network computes in. The image-sized state stays where the transfer
    keeps it (`StyleTransfer.on_state_device`); each tile's crop and its part of the
    position maps are cut there and only they go to the network's device.
    """

    def __init__(self, transfer, tile_size: int):
        self.transfer = transfer
        self.objective: objective.Objective = transfer.objective
        self.tile_size = tile_size
        self.layers = self.objective.layers
        self.halo = halo_for(self.layers, vgg.architecture(transfer.feature_model))
        self._statistics = tf.function(self._tile_statistics, reduce_retracing=True)
        self._gradient = tf.function(self._tile_gradient, reduce_retracing=True)
        self._first_gradient_arguments = None  # for tile_gradient_graph
        # Called with (passes done, passes in all) after each tile's pass: progress, and a
        # chance to stop a long step between tiles (by raising).
        self.on_tile: Optional[Callable[[int, int], None]] = None

    def tiles(self, height: int, width: int) -> List[Tile]:
        return tiles_covering(height, width, self.tile_size, self.halo)

    def losses(self, image: tf.Tensor) -> Dict[str, tf.Tensor]:
        """The losses of `image` (1, H, W, 3) as `compute_losses` names them: pass 1 alone,
        outside any step (`on_tile` is not called)."""
        height, width = int(image.shape[1]), int(image.shape[2])
        sums = self._pass_one(image, self.tiles(height, width), report=False)
        with self.transfer.on_state_device():
            return self.objective.losses(sums, image)

    def losses_and_gradient(self, image: tf.Tensor) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        """The losses of `image` (1, H, W, 3) as `compute_losses` names them, and dL/dimage
        (times the transfer's loss scale, when it has one, as the whole step's is)."""
        transfer = self.transfer
        height, width = int(image.shape[1]), int(image.shape[2])
        tiles = self.tiles(height, width)
        scale = (tf.constant(1.0) if transfer.loss_scale is None
                 else tf.convert_to_tensor(transfer.loss_scale.scale))
        sums = self._pass_one(image, tiles)

        # The middle: the losses from the sums, dL/dS, and the image terms' own gradient.
        with transfer.on_state_device():
            with tf.GradientTape() as tape:
                tape.watch((sums, image))
                step_losses = self.objective.losses(sums, image)
            sum_gradients, image_gradient = tape.gradient(
                step_losses["total"], (sums, image),
                unconnected_gradients=tf.UnconnectedGradients.ZERO)
            sum_gradients = tf.nest.map_structure(lambda value: scale * value, sum_gradients)
            gradient = (scale * image_gradient).numpy()

        # Pass 2: each tile's input gradient of <dL/dS, S_tile>, added into the crop's part
        # of one image-sized buffer.
        passes = len(tiles)
        for tile in tiles:
            arguments = (*self._tile_arguments(image, tile), sum_gradients)
            if self._first_gradient_arguments is None:
                self._first_gradient_arguments = arguments
            top, bottom, left, right = tile.crop
            gradient[:, top:bottom, left:right] += self._gradient(*arguments).numpy()
            passes = self._tile_done(passes, len(tiles))
        with transfer.on_state_device():
            return step_losses, tf.constant(gradient)

    def _pass_one(self, image: tf.Tensor, tiles: List[Tile], report: bool = True):
        """Pass 1: every term's sums over the whole image, added up tile by tile."""
        sums, passes = None, 0
        for tile in tiles:
            tile_sums = self._statistics(*self._tile_arguments(image, tile))
            if report:
                passes = self._tile_done(passes, len(tiles))
            with self.transfer.on_state_device():
                sums = tile_sums if sums is None else tf.nest.map_structure(tf.add, sums, tile_sums)
        return sums

    def _tile_done(self, passes: int, tiles: int) -> int:
        if self.on_tile is not None:
            self.on_tile(passes + 1, 2 * tiles)
        return passes + 1

    def tile_gradient_graph(self) -> tf.Graph:
        """The graph of one tile's pass 2 (forward under a tape, then backward), after a step."""
        if self._first_gradient_arguments is None:
            raise ValueError("No step has been taken yet. Received: a graph request before it")
        return self._gradient.get_concrete_function(*self._first_gradient_arguments).graph

    def _tile_arguments(self, image: tf.Tensor, tile: Tile):
        """What one tile's pass needs, cut where the state is kept: the crop, its inner box
        relative to the crop, and the tile's inner positions of the position maps."""
        top, bottom, left, right = tile.crop
        with self.transfer.on_state_device():
            crop = image[:, top:bottom, left:right, :]
            maps = {term: {layer: {label: _inner_positions(values, layer, tile)
                                   for label, values in labelled.items()}
                           for layer, labelled in layers.items()}
                    for term, layers in self.objective.position_maps().items()}
        inner = tf.constant([tile.inner[0] - top, tile.inner[1] - top,
                             tile.inner[2] - left, tile.inner[3] - left], tf.int32)
        return crop, inner, maps

    def _inner_features(self, crop: tf.Tensor, inner: tf.Tensor) -> Dict[str, tf.Tensor]:
        """The network's outputs at the tile's inner positions."""
        features = self.transfer.network_outputs(crop)
        inside = {}
        with tf.name_scope("inner_positions"):
            for name in self.layers:
                factor = layer_factor(name)
                inside[name] = features[name][:, inner[0] // factor:inner[1] // factor,
                                              inner[2] // factor:inner[3] // factor, :]
        return inside

    def _tile_statistics(self, crop, inner, maps):
        return self.objective.statistics(self._inner_features(crop, inner), maps)

    def _tile_gradient(self, crop, inner, maps, sum_gradients):
        with tf.GradientTape() as tape:
            tape.watch(crop)
            sums = self.objective.statistics(self._inner_features(crop, inner), maps)
            with tf.name_scope("objective/"):
                linear = tf.add_n([tf.reduce_sum(gradient * value) for gradient, value in zip(
                    tf.nest.flatten(sum_gradients), tf.nest.flatten(sums))])
        with tf.name_scope("gradient_tape/"):
            return tape.gradient(linear, crop)


def _inner_positions(tensor: tf.Tensor, name: str, tile: Tile) -> tf.Tensor:
    """A tile's inner positions of a whole-image-sized map of layer `name`."""
    factor = layer_factor(name)
    top, bottom, left, right = tile.inner
    return tensor[:, top // factor:bottom // factor, left // factor:right // factor, :]
