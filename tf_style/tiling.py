"""The exact loss and gradient of a `StyleTransfer` computed over tiles of the image.

The losses need two things from the whole image: each style layer's Gram matrix and the
content error, both sums over positions. So (Galerne et al., "Scaling Painting Style
Transfer", EGSR 2024, in spirit; our own code):

1. For each tile, the network runs on the tile plus a halo, with no tape, and the sums
   F^T F (guided: (F*T)^T (F*T)) and ||F - P||^2 are taken over the tile's *inner*
   feature positions only. Together they give the exact global loss.
2. With the global Grams fixed, each tile runs again under a tape; dL/dF is injected at
   its inner positions (zero in the halo) and the input gradient of the whole crop, halo
   included, is added into the image's gradient (overlap-add).

A feature at an inner position sees the same pixels in the crop as in the whole image
when the halo covers its receptive field on each side (`halo_sides`), and tiles at the
image border get no halo there, so they see the image's own zero padding. Tile offsets
are multiples of 16, so the four 2x2 pools line up with the whole image's. The total-
variation term is computed on the whole image: it is cheap and touches every pixel.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tf_style import losses
from tf_style.tile_geometry import Tile, halo_for, layer_factor, layer_shape, tiles_covering


def gram_norm(name: str, guides: Optional[Dict[str, tf.Tensor]], height: int,
              width: int) -> tf.Tensor:
    """What a Gram matrix of layer `name` is divided by, as in `losses`: M (its positions)
    for a plain one, sum(T^2) for one guided by `guides`."""
    if guides is None:
        rows, columns = layer_shape(height, width, name)
        return tf.constant(float(rows * columns))
    return tf.reduce_sum(tf.square(guides[name])) + losses.TINY


def inner_features(features: Callable[[tf.Tensor], Dict[str, tf.Tensor]], image: np.ndarray,
                   tile_size: int, layer_names: Sequence[str]
                   ) -> Iterator[Tuple[Tile, Dict[str, tf.Tensor]]]:
    """Each tile of an (H, W, 3) image with the features at its inner positions, as the
    whole image's forward pass would give them (no tape)."""
    height, width = image.shape[:2]
    for tile in tiles_covering(height, width, tile_size, halo_for(layer_names)):
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
                      device: Optional[str] = None) -> Dict[str, tf.Tensor]:
    """The whole image's feature maps of `layer_names`, computed tile by tile, in the
    features' own precision; kept on `device` (None: TensorFlow's default)."""
    height, width = image.shape[:2]
    maps = {}
    for tile, inner in inner_features(features, image, tile_size, layer_names):
        for name, values in inner.items():
            if name not in maps:
                maps[name] = np.zeros((1, *layer_shape(height, width, name), values.shape[-1]),
                                      values.dtype.as_numpy_dtype)
            factor = layer_factor(name)
            top, left = tile.inner[0] // factor, tile.inner[2] // factor
            maps[name][:, top:top + values.shape[1], left:left + values.shape[2]] = values.numpy()
    with tf.device(device) if device else contextlib.nullcontext():
        return {name: tf.constant(values) for name, values in maps.items()}


def tiled_grams(features: Callable[[tf.Tensor], Dict[str, tf.Tensor]], image: np.ndarray,
                tile_size: int, layer_names: Sequence[str],
                guides: Optional[Dict[str, tf.Tensor]] = None) -> Dict[str, tf.Tensor]:
    """`losses.gram_matrix` (or, with per-layer `guides`, `guided_gram_matrix`) of the whole
    image's features, computed tile by tile."""
    height, width = image.shape[:2]
    sums = {name: 0.0 for name in layer_names}
    for tile, inner in inner_features(features, image, tile_size, layer_names):
        for name, values in inner.items():
            if guides is not None:
                factor = layer_factor(name)
                values = values * guides[name][
                    :, tile.inner[0] // factor:tile.inner[0] // factor + values.shape[1],
                    tile.inner[2] // factor:tile.inner[2] // factor + values.shape[2], :]
            sums[name] += losses.outer_sum(values)
    return {name: sums[name] / gram_norm(name, guides, height, width) for name in layer_names}


class TiledObjective:
    """The loss and its gradient for a `StyleTransfer`'s image, computed tile by tile.

    Equal to the whole-image `compute_losses` and its gradient up to the rounding of the
    precision the network computes in. The image-sized state stays where the transfer
    keeps it (`StyleTransfer.on_state_device`); each tile's crop and its slices of the
    targets are cut there and only they go to the network's device.
    """

    def __init__(self, transfer, tile_size: int):
        self.transfer = transfer
        self.tile_size = tile_size
        self.layers = tuple(dict.fromkeys(transfer.content_layers + transfer.style_layers))
        self.halo = halo_for(self.layers)
        # The targets and guides are fixed: their norms are computed once, not every step.
        with transfer.on_state_device():
            self._content_norms = {
                name: tf.reduce_sum(tf.square(tf.cast(transfer.content_targets[name], tf.float32)))
                + losses.TINY for name in transfer.content_layers}
        self._target_norms = {
            name: [tf.reduce_sum(tf.square(region.targets[name])) + losses.TINY
                   for region in transfer.style_regions] for name in transfer.style_layers}
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
        return self._losses_from_sums(image, *sums)[0]

    def losses_and_gradient(self, image: tf.Tensor) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        """The losses of `image` (1, H, W, 3) as `compute_losses` names them, and dL/dimage
        (times the transfer's loss scale, when it has one, as the whole step's is)."""
        transfer = self.transfer
        height, width = int(image.shape[1]), int(image.shape[2])
        tiles = self.tiles(height, width)
        scale = (tf.constant(1.0) if transfer.loss_scale is None
                 else tf.convert_to_tensor(transfer.loss_scale.scale))
        step_losses, gram_gradients = self._losses_from_sums(image, *self._pass_one(image, tiles))

        # Pass 2: each tile's input gradient for dL/dF injected at its inner positions,
        # added into the crop's part of one image-sized buffer (overlap-add).
        with transfer.on_state_device(), tf.GradientTape() as tape:
            tape.watch(image)
            tv = losses.total_variation_loss(image)
        with transfer.on_state_device():
            gradient = (scale * transfer.tv_weight * tape.gradient(tv, image)).numpy()
        passes = len(tiles)
        for tile in tiles:
            arguments = (*self._tile_arguments(image, tile), gram_gradients, scale)
            if self._first_gradient_arguments is None:
                self._first_gradient_arguments = arguments
            top, bottom, left, right = tile.crop
            gradient[:, top:bottom, left:right] += self._gradient(*arguments).numpy()
            passes = self._tile_done(passes, len(tiles))
        with transfer.on_state_device():
            return step_losses, tf.constant(gradient)

    def _pass_one(self, image: tf.Tensor, tiles: List[Tile], report: bool = True):
        """Pass 1: sums over inner positions that give the global Grams and content errors."""
        transfer = self.transfer
        regions = transfer.style_regions
        gram_sums = {name: [0.0] * len(regions) for name in transfer.style_layers}
        content_sums = {name: 0.0 for name in transfer.content_layers}
        passes = 0
        for tile in tiles:
            grams, content = self._statistics(*self._tile_arguments(image, tile))
            if report:
                passes = self._tile_done(passes, len(tiles))
            for name in transfer.style_layers:
                for index in range(len(regions)):
                    gram_sums[name][index] += grams[name][index]
            for name in transfer.content_layers:
                content_sums[name] += content[name]
        return gram_sums, content_sums

    def _losses_from_sums(self, image: tf.Tensor, gram_sums, content_sums):
        """The global losses from pass 1's sums, and dE/dG for every style layer and region."""
        transfer = self.transfer
        height, width = int(image.shape[1]), int(image.shape[2])
        content = tf.add_n([content_sums[name] / self._content_norms[name]
                            for name in transfer.content_layers]) / len(transfer.content_layers)
        per_layer, gram_gradients = {}, {}
        for name in transfer.style_layers:
            terms, gradients = [], []
            for index, region in enumerate(transfer.style_regions):
                positions = gram_norm(name, region.guides, height, width)
                gram = gram_sums[name][index] / positions
                target = region.targets[name]
                norm = self._target_norms[name][index]
                terms.append(region.weight * tf.reduce_sum(tf.square(gram - target)) / norm)
                # dL/dG for this region's guided Gram, divided by the Gram's own norm N:
                # style_weight * w_l * weight * 2 (G - A) / ||A||^2 / N
                gradients.append(transfer.style_weight * transfer.style_layer_weights[name]
                                 * region.weight * 2.0 * (gram - target) / norm / positions)
            per_layer[name] = tf.add_n(terms)
            gram_gradients[name] = gradients
        style = tf.add_n([transfer.style_layer_weights[name] * per_layer[name]
                          for name in transfer.style_layers])
        with transfer.on_state_device():
            tv = losses.total_variation_loss(image)
        total = (transfer.content_weight * content + transfer.style_weight * style
                 + transfer.tv_weight * tv)
        step_losses = {"total": total, "content": content, "style": style, "tv": tv}
        step_losses.update({f"style/{name}": value for name, value in per_layer.items()})
        return step_losses, gram_gradients

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
        relative to the crop, and its inner positions of the content targets and guides."""
        transfer = self.transfer
        top, bottom, left, right = tile.crop
        with transfer.on_state_device():
            crop = image[:, top:bottom, left:right, :]
            targets = {name: _inner_positions(transfer.content_targets[name], name, tile)
                       for name in transfer.content_layers}
            guides = [None if region.guides is None else
                      {name: _inner_positions(region.guides[name], name, tile)
                       for name in transfer.style_layers}
                      for region in transfer.style_regions]
        inner = tf.constant([tile.inner[0] - top, tile.inner[1] - top,
                             tile.inner[2] - left, tile.inner[3] - left], tf.int32)
        return crop, inner, targets, guides

    def _inner(self, tensor: tf.Tensor, name: str, inner: tf.Tensor) -> tf.Tensor:
        """The tile's inner positions of a crop-sized feature map of layer `name`."""
        factor = layer_factor(name)
        return tensor[:, inner[0] // factor:inner[1] // factor,
                      inner[2] // factor:inner[3] // factor, :]

    def _tile_statistics(self, crop, inner, targets, guides):
        transfer = self.transfer
        features = transfer.features(crop)
        grams = {}
        for name in transfer.style_layers:
            inside = self._inner(features[name], name, inner)
            flat_per_region = []
            for region_guides in guides:
                guided = inside
                if region_guides is not None:
                    guided = inside * region_guides[name]
                flat_per_region.append(losses.outer_sum(guided))
            grams[name] = flat_per_region
        content = {name: tf.reduce_sum(tf.square(
            self._inner(features[name], name, inner) - tf.cast(targets[name], tf.float32)))
            for name in transfer.content_layers}
        return grams, content

    def _tile_gradient(self, crop, inner, targets, guides, gram_gradients, scale):
        transfer = self.transfer
        with tf.GradientTape() as tape:
            tape.watch(crop)
            features = transfer.features(crop)
        names = list(self.layers)
        output_gradients = []
        with tf.name_scope("objective"):  # dL/dF of each layer, at the tile's inner positions
            for name in names:
                with tf.name_scope(name):
                    output_gradients.append(scale * self._injected_gradient(
                        features[name], name, inner, targets, guides, gram_gradients))
        with tf.name_scope("gradient_tape/"):
            return tape.gradient([features[name] for name in names], crop,
                                 output_gradients=output_gradients)

    def _injected_gradient(self, feature, name, inner, targets, guides, gram_gradients):
        transfer = self.transfer
        inside = self._inner(feature, name, inner)
        injected = tf.zeros_like(inside)
        if name in transfer.style_layers:
            for region_guides, gram_gradient in zip(guides, gram_gradients[name]):
                # dE/dF = T^2 * F (dE/dG + dE/dG^T) / N, with dE/dG symmetric
                # (N is already in gram_gradient).
                change = 2.0 * tf.einsum("bhwc,cd->bhwd", inside, gram_gradient[0])
                if region_guides is not None:
                    change *= tf.square(region_guides[name])
                injected += change
        if name in transfer.content_layers:
            target = tf.cast(targets[name], tf.float32)
            injected += (transfer.content_weight * 2.0 * (inside - target)
                         / self._content_norms[name] / len(transfer.content_layers))
        factor = layer_factor(name)
        height, width = tf.shape(feature)[1], tf.shape(feature)[2]
        return tf.pad(injected, [
            [0, 0], [inner[0] // factor, height - inner[1] // factor],
            [inner[2] // factor, width - inner[3] // factor], [0, 0]])


def _inner_positions(tensor: tf.Tensor, name: str, tile: Tile) -> tf.Tensor:
    """A tile's inner positions of a whole-image-sized map of layer `name`."""
    factor = layer_factor(name)
    top, bottom, left, right = tile.inner
    return tensor[:, top // factor:bottom // factor, left // factor:right // factor, :]
