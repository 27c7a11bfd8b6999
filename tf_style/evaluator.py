"""The loss and gradient of an objective over a list of crops of the image: the whole image
as one crop, or tiles with halos. The whole-image step is the one-tile case.

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

With one crop the three collapse into one forward and backward pass under one tape, which
is what a whole-image step is.

A feature at an inner position sees the same pixels in the crop as in the whole image
when the halo covers its receptive field on each side (`halo_sides`), and tiles at the
image border get no halo there, so they see the image's own zero padding. Tile offsets
are multiples of 16, so the four 2x2 pools line up with the whole image's. The image
terms (total variation, ...) are computed on the whole image: they are cheap.

A seamless picture (`wrap`) is one period of an endless one: the whole image runs through
a twin of the network whose convs wrap around (`vgg.with_wrap`); a tile's halo runs on
past the edge and is taken from the opposite one, so the plain network sees in the crop
what the wrapped one sees in the whole image, and a tile's gradient past the edge is
added in at the opposite one. The photo is seen as it is; a painting without its edges
(`targets.make_targets`).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from tf_style import objective, vgg
from tf_style.tile_geometry import Tile, halo_for, layer_factor, tiles_covering


class Crops:
    """The network run over the crops of an image: the whole image when `tile_size` is
    None, else tiles of `tile_size` with halos. The image-sized state stays on
    `state_device` (None: TensorFlow's default placement); only crops go to the network's."""

    def __init__(self, feature_model: keras.Model, tile_size: Optional[int] = None,
                 state_device: Optional[str] = None, wrap: Tuple[bool, bool] = vgg.NO_WRAP):
        self.feature_model = feature_model
        self.tile_size = tile_size or None
        self.state_device = state_device
        self.wrap = tuple(bool(axis) for axis in wrap)
        self.precision = vgg.compute_precision(feature_model)
        self._architecture = vgg.architecture(feature_model)
        # The whole image of a seamless picture runs through a wrapped twin; tiles never do.
        self._wrapped_model = (vgg.with_wrap(feature_model, self.wrap)
                               if any(self.wrap) and self.tile_size is None else None)

    def on_state_device(self):
        """The scope that places what is made in it on the state device."""
        return tf.device(self.state_device) if self.state_device else contextlib.nullcontext()

    def halo(self, layer_names: Sequence[str]) -> Tuple[int, int]:
        """Pixels a feature of the deepest of `layer_names` sees before and after its own
        position, rounded up to 16 (`tile_geometry.halo_for`)."""
        return halo_for(layer_names, self._architecture)

    def tiles(self, height: int, width: int, layer_names: Sequence[str],
              wrapped: bool = False) -> List[Tile]:
        """The crops that cover an image for features of `layer_names`: one, or tiles
        (`wrapped`: whose halos wrap around on the axes `wrap` names)."""
        if self.tile_size is None:
            return [Tile((0, height, 0, width), (0, height, 0, width))]
        return tiles_covering(height, width, self.tile_size, self.halo(layer_names),
                              self.wrap if wrapped else vgg.NO_WRAP)

    def network_outputs(self, image: tf.Tensor, wrapped: bool = False) -> Dict[str, tf.Tensor]:
        """Named activations of an RGB 0-255 image batch, in the network's precision
        (`wrapped`: through the network whose convs wrap around on the axes `wrap` names)."""
        with tf.name_scope("image"):
            preprocessed = vgg.preprocess_input(image)
        if wrapped and self._wrapped_model is not None:
            return self._wrapped_model(preprocessed)
        return self.feature_model(preprocessed)

    def inner_features(self, crop: tf.Tensor, inner: Optional[tf.Tensor],
                       layer_names: Sequence[str]) -> Dict[str, tf.Tensor]:
        """The network's outputs at a crop's inner positions (`inner`: top, bottom, left,
        right in the crop's pixels; None: all of them)."""
        features = self.network_outputs(crop)
        if inner is None:
            return features
        inside = {}
        with tf.name_scope("inner_positions"):
            for name in layer_names:
                factor = layer_factor(name)
                inside[name] = features[name][:, inner[0] // factor:inner[1] // factor,
                                              inner[2] // factor:inner[3] // factor, :]
        return inside

    def features_by_tile(self, image: np.ndarray, layer_names: Sequence[str]
                         ) -> Iterator[Tuple[Tile, Dict[str, tf.Tensor]]]:
        """Each crop of an (H, W, 3) image with the features at its inner positions, as the
        whole image's forward pass would give them (no tape)."""
        height, width = image.shape[:2]
        for tile in self.tiles(height, width, layer_names):
            top, bottom, left, right = tile.crop
            crop = tf.constant(image[None, top:bottom, left:right], tf.float32)
            yield tile, self.inner_features(crop, _inner_box(tile), layer_names)


def cut_crop(image: tf.Tensor, crop: Tuple[int, int, int, int]) -> tf.Tensor:
    """A (1, H, W, C) image's crop (top, bottom, left, right); a crop past an edge takes
    those pixels from the opposite edge."""
    top, bottom, left, right = crop
    height, width = int(image.shape[1]), int(image.shape[2])
    if 0 <= top and bottom <= height and 0 <= left and right <= width:
        return image[:, top:bottom, left:right, :]
    rows = np.arange(top, bottom) % height
    columns = np.arange(left, right) % width
    return tf.gather(tf.gather(image, rows, axis=1), columns, axis=2)


def add_crop(gradient: np.ndarray, values: np.ndarray, crop: Tuple[int, int, int, int]) -> None:
    """Adds a crop's `values` into the image-sized `gradient` where `cut_crop` took them
    from: past an edge, at the opposite edge (twice where a crop is wider than the image)."""
    top, bottom, left, right = crop
    height, width = gradient.shape[1:3]
    if 0 <= top and bottom <= height and 0 <= left and right <= width:
        gradient[:, top:bottom, left:right] += values
        return
    rows = np.arange(top, bottom) % height
    columns = np.arange(left, right) % width
    np.add.at(gradient, (slice(None), rows[:, None], columns[None, :]), values)


def inner_positions(tensor: tf.Tensor, name: str, tile: Tile) -> tf.Tensor:
    """A tile's inner positions of a whole-image-sized map of layer `name`."""
    factor = layer_factor(name)
    top, bottom, left, right = tile.inner
    return tensor[:, top // factor:bottom // factor, left // factor:right // factor, :]


def _inner_box(tile: Tile) -> Optional[tf.Tensor]:
    """A tile's inner part relative to its crop; None when it is all of it."""
    if tile.inner == tile.crop:
        return None
    top, _, left, _ = tile.crop
    return tf.constant([tile.inner[0] - top, tile.inner[1] - top,
                        tile.inner[2] - left, tile.inner[3] - left], tf.int32)


class Evaluator:
    """The losses of an image under `objective` and their gradient, over `crops`.

    Equal, tiled or not, up to the rounding of the precision the network computes in.
    Each tile's crop and its part of the position maps are cut on the state device and
    only they go to the network's device.
    """

    def __init__(self, crops: Crops, objective_: objective.Objective):
        self.crops = crops
        self.objective = objective_
        self.layers = objective_.layers
        self._statistics = tf.function(self._tile_statistics, reduce_retracing=True)
        self._gradient = tf.function(self._tile_gradient, reduce_retracing=True)
        self._whole_losses = tf.function(self._losses_at_once, reduce_retracing=True)
        self._first_gradient_arguments = None  # for tile_gradient_graph
        # Called with (passes done, passes in all) after each tile's pass: progress, and a
        # chance to stop a long step between tiles (by raising).
        self.on_tile: Optional[Callable[[int, int], None]] = None

    @property
    def tile_size(self) -> Optional[int]:
        """The tiles' size; None for the whole image."""
        return self.crops.tile_size

    @property
    def traceable(self) -> bool:
        """Whether the whole step compiles into one graph: one crop, one pass."""
        return self.crops.tile_size is None

    def tiles(self, height: int, width: int) -> List[Tile]:
        """The crops the image being optimised is seen through (wrapped when seamless)."""
        return self.crops.tiles(height, width, self.layers, wrapped=True)

    def losses(self, image: tf.Tensor) -> Dict[str, tf.Tensor]:
        """The losses of `image` (1, H, W, 3): `total`, each term by name and their parts."""
        if self.traceable:
            return self._whole_losses(image)
        height, width = int(image.shape[1]), int(image.shape[2])
        sums = self._pass_one(image, self.tiles(height, width), report=False)
        with self.crops.on_state_device():
            return self.objective.losses(sums, image)

    def losses_and_gradient(self, image: tf.Tensor, scale: Optional[tf.Tensor] = None
                            ) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        """The losses of `image` (1, H, W, 3) and d(scale * total)/dimage. With one crop
        this is traceable (the compiled step calls it); with tiles it runs eagerly."""
        if self.traceable:
            return self._at_once(image, scale)
        return self._by_tiles(image, tf.constant(1.0) if scale is None
                              else tf.convert_to_tensor(scale))

    def _losses_at_once(self, image: tf.Tensor) -> Dict[str, tf.Tensor]:
        features = self.crops.network_outputs(image, wrapped=True)
        sums = self.objective.statistics(features, self.objective.position_maps())
        return self.objective.losses(sums, image)

    def _at_once(self, image: tf.Tensor, scale: Optional[tf.Tensor]):
        with tf.GradientTape() as tape:
            tape.watch(image)
            step_losses = self._losses_at_once(image)
            total = step_losses["total"] if scale is None else step_losses["total"] * scale
        # The tape names its ops gradient_tape/...; its sums join them there.
        with tf.name_scope("gradient_tape/"):
            return step_losses, tape.gradient(total, image)

    def _by_tiles(self, image: tf.Tensor, scale: tf.Tensor):
        height, width = int(image.shape[1]), int(image.shape[2])
        tiles = self.tiles(height, width)
        sums = self._pass_one(image, tiles)

        # The middle: the losses from the sums, dL/dS, and the image terms' own gradient.
        with self.crops.on_state_device():
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
            add_crop(gradient, self._gradient(*arguments).numpy(), tile.crop)
            passes = self._tile_done(passes, len(tiles))
        with self.crops.on_state_device():
            return step_losses, tf.constant(gradient)

    def _pass_one(self, image: tf.Tensor, tiles: List[Tile], report: bool = True):
        """Pass 1: every term's sums over the whole image, added up tile by tile."""
        sums, passes = None, 0
        for tile in tiles:
            tile_sums = self._statistics(*self._tile_arguments(image, tile))
            if report:
                passes = self._tile_done(passes, len(tiles))
            with self.crops.on_state_device():
                sums = tile_sums if sums is None else tf.nest.map_structure(tf.add, sums, tile_sums)
        return sums

    def _tile_done(self, passes: int, tiles: int) -> int:
        if self.on_tile is not None:
            self.on_tile(passes + 1, 2 * tiles)
        return passes + 1

    def tile_gradient_graph(self) -> tf.Graph:
        """The graph of one tile's pass 2 (forward under a tape, then backward), after a step."""
        if self._first_gradient_arguments is None:
            raise ValueError("No tiled step has been taken yet. Received: a graph request before it")
        return self._gradient.get_concrete_function(*self._first_gradient_arguments).graph

    def _tile_arguments(self, image: tf.Tensor, tile: Tile):
        """What one tile's pass needs, cut where the state is kept: the crop, its inner box
        relative to the crop, and the tile's inner positions of the position maps."""
        top, _, left, _ = tile.crop
        with self.crops.on_state_device():
            crop = cut_crop(image, tile.crop)
            maps = {term: {layer: {label: inner_positions(values, layer, tile)
                                   for label, values in labelled.items()}
                           for layer, labelled in layers.items()}
                    for term, layers in self.objective.position_maps().items()}
        inner = tf.constant([tile.inner[0] - top, tile.inner[1] - top,
                             tile.inner[2] - left, tile.inner[3] - left], tf.int32)
        return crop, inner, maps

    def _tile_statistics(self, crop, inner, maps):
        return self.objective.statistics(self.crops.inner_features(crop, inner, self.layers), maps)

    def _tile_gradient(self, crop, inner, maps, sum_gradients):
        with tf.GradientTape() as tape:
            tape.watch(crop)
            sums = self._tile_statistics(crop, inner, maps)
            with tf.name_scope("objective/"):
                linear = tf.add_n([tf.reduce_sum(gradient * value) for gradient, value in zip(
                    tf.nest.flatten(sum_gradients), tf.nest.flatten(sums))])
        with tf.name_scope("gradient_tape/"):
            return tape.gradient(linear, crop)
