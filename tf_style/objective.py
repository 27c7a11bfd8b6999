"""The objective: weighted terms, each a loss of sums over the features' positions or of
the image itself.

A feature term says which sums it needs (`statistics`: the Gram loss F^T F, the content
loss (F - P)^2, the Wasserstein loss F and F^T F) and computes its loss from them (`loss`).
The sums add over positions, so the loss of the whole image is the loss of its tiles'
summed statistics, and the gradient follows by the chain rule through them: `evaluator.py`
needs nothing else from a term, and the whole-image step is the one-tile case. Adding a
loss is one class here and one line in `build_objective`, plus its weight's flag in
config.py (docs/design.md). An image term (total variation, temporal,
Laplacian) takes the whole image.

Every statistic and loss is float32 whatever the network computes in; each term casts
the features itself, which spares keeping float32 copies for the backward pass.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Dict, Mapping, Optional, Sequence, Tuple

import tensorflow as tf

from tf_style import losses, wasserstein
from tf_style.config import TransferConfig

if TYPE_CHECKING:
    from tf_style.targets import Targets

Tensors = Dict[str, tf.Tensor]
# Image-sized maps a term's statistics read at each position, by layer then by label
# (content targets, guides); a tile's statistics get the tile's part of each.
PositionMaps = Dict[str, Dict[str, tf.Tensor]]


@dataclasses.dataclass(frozen=True)
class Moments:
    """A layer's feature statistics over an image or a region of it: the mean (1, C) and
    the second moment E[F F^T] (1, C, C), which is the Gram matrix of `losses`."""

    mean: tf.Tensor
    second_moment: tf.Tensor


MOMENT_SUMS = ("positions", "sum", "second_moment")


def moment_sums(features: tf.Tensor, guide: Optional[tf.Tensor] = None,
                needs: Sequence[str] = MOMENT_SUMS) -> Tensors:
    """Sums over the positions of (1, H, W, C) features that give their `Moments`, weighted
    by guide^2 (a (1, H, W, 1) map in [0, 1]) when there is one, in float32: `positions`
    (their number, or sum T^2), `sum` (of F) and `second_moment` (sum F F^T); those in `needs`."""
    sums = {}
    if guide is None:
        shape = tf.shape(features)
        sums["positions"] = tf.cast(shape[1] * shape[2], tf.float32)
        if "sum" in needs:
            sums["sum"] = tf.reduce_sum(tf.cast(features, tf.float32), axis=[1, 2])
        if "second_moment" in needs:
            sums["second_moment"] = losses.outer_sum(features)
        return sums
    guided = tf.cast(features, tf.float32) * guide
    sums["positions"] = tf.reduce_sum(tf.square(guide))
    if "sum" in needs:
        sums["sum"] = tf.reduce_sum(guided * guide, axis=[1, 2])
    if "second_moment" in needs:
        sums["second_moment"] = losses.outer_sum(guided)
    return sums


def moments_from_sums(sums: Mapping[str, tf.Tensor]) -> Moments:
    positions = sums["positions"] + losses.TINY
    return Moments(sums["sum"] / positions, sums["second_moment"] / positions)


def blend(moments: Sequence[Moments], weights: Sequence[float]) -> Moments:
    """The moments of a mixture of the styles in proportions `weights` (summing to 1):
    means and second moments average; covariances would not."""
    return Moments(tf.add_n([float(w) * m.mean for w, m in zip(weights, moments)]),
                   tf.add_n([float(w) * m.second_moment for w, m in zip(weights, moments)]))


@dataclasses.dataclass(frozen=True)
class StyleRegion:
    """Where a style target applies: `guides` (per layer, None = everywhere), the target's
    `Moments` per layer, and the region's weight."""

    weight: float
    targets: Dict[str, Moments]
    guides: Optional[Dict[str, tf.Tensor]] = None


class FeatureTerm:
    """A loss of the network's features through sums over their positions."""

    name: str
    layers: Tuple[str, ...]

    def position_maps(self) -> PositionMaps:
        """The image-sized maps `statistics` reads, at each layer's resolution."""
        return {}

    def statistics(self, features: Tensors, maps: PositionMaps) -> Tensors:
        """Sums over the positions of `features` (and the same positions of `maps`)."""
        raise NotImplementedError

    def loss(self, sums: Tensors) -> Tuple[tf.Tensor, Tensors]:
        """The loss from the whole image's sums, and its named parts (reported as
        `<term>/<part>`)."""
        raise NotImplementedError


class ImageTerm:
    """A loss of the whole image (1, H, W, 3) in 0-255."""

    name: str

    def loss(self, image: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError


class ContentLoss(FeatureTerm):
    """||F - P||^2 / ||P||^2 (Gatys eq. 1, normalised), averaged over the layers. The
    targets may be variables (a video assigns each frame's)."""

    name = "content"

    def __init__(self, targets: Mapping[str, tf.Tensor]):
        self.targets = dict(targets)
        self.layers = tuple(self.targets)

    def position_maps(self) -> PositionMaps:
        return {layer: {"target": target} for layer, target in self.targets.items()}

    def statistics(self, features: Tensors, maps: PositionMaps) -> Tensors:
        sums = {}
        for layer in self.layers:
            value = tf.cast(features[layer], tf.float32)
            target = tf.cast(maps[layer]["target"], tf.float32)
            sums[f"{layer}/error"] = tf.reduce_sum(tf.square(value - target))
            sums[f"{layer}/target"] = tf.reduce_sum(tf.square(target))
        return sums

    def loss(self, sums: Tensors) -> Tuple[tf.Tensor, Tensors]:
        return tf.add_n([sums[f"{layer}/error"] / (sums[f"{layer}/target"] + losses.TINY)
                         for layer in self.layers]) / len(self.layers), {}


class StyleLoss(FeatureTerm):
    """sum_l w_l sum_r weight_r E_l,r over style layers l and regions r, reported per layer.
    A subclass says which `moment_sums` it needs and compares them with a region's target."""

    name = "style"
    needs: Tuple[str, ...] = MOMENT_SUMS

    def __init__(self, layer_weights: Mapping[str, float], regions: Sequence[StyleRegion]):
        self.layer_weights = dict(layer_weights)
        self.layers = tuple(self.layer_weights)
        self.regions = tuple(regions)

    def position_maps(self) -> PositionMaps:
        return {layer: {f"guide/{index}": region.guides[layer]
                        for index, region in enumerate(self.regions) if region.guides is not None}
                for layer in self.layers}

    def statistics(self, features: Tensors, maps: PositionMaps) -> Tensors:
        sums = {}
        for layer in self.layers:
            with tf.name_scope(layer):
                for index in range(len(self.regions)):
                    region_sums = moment_sums(features[layer], maps[layer].get(f"guide/{index}"),
                                              self.needs)
                    sums.update({f"{layer}/{index}/{what}": region_sums[what]
                                 for what in self.needs})
        return sums

    def loss(self, sums: Tensors) -> Tuple[tf.Tensor, Tensors]:
        per_layer = {}
        for layer in self.layers:
            with tf.name_scope(layer):
                per_layer[layer] = tf.add_n([
                    region.weight * self.distance(
                        {what: sums[f"{layer}/{index}/{what}"] for what in self.needs},
                        layer, index)
                    for index, region in enumerate(self.regions)])
        total = tf.add_n([self.layer_weights[layer] * per_layer[layer] for layer in self.layers])
        return total, per_layer

    def distance(self, sums: Tensors, layer: str, region: int) -> tf.Tensor:
        """The loss of one layer in one region from its sums."""
        raise NotImplementedError


class GramLoss(StyleLoss):
    """E_l = ||G - A||^2 / ||A||^2 (Gatys eq. 4, normalised by the target's size)."""

    needs = ("positions", "second_moment")

    def __init__(self, layer_weights: Mapping[str, float], regions: Sequence[StyleRegion]):
        super().__init__(layer_weights, regions)
        self._target_norms = {
            (layer, index): tf.reduce_sum(tf.square(region.targets[layer].second_moment))
            + losses.TINY for layer in self.layers for index, region in enumerate(self.regions)}

    def distance(self, sums: Tensors, layer: str, region: int) -> tf.Tensor:
        gram = sums["second_moment"] / (sums["positions"] + losses.TINY)
        target = self.regions[region].targets[layer].second_moment
        return tf.reduce_sum(tf.square(gram - target)) / self._target_norms[(layer, region)]


class WassersteinLoss(StyleLoss):
    """E_l = W2^2 between Gaussians with the features' and the target's mean and covariance
    (`wasserstein`), divided by the target's own size ||mu_s||^2 + Tr(Sigma_s), which is
    its W2^2 from zero: as the Gram loss is relative, `--style_weight` keeps its scale."""

    def __init__(self, layer_weights: Mapping[str, float], regions: Sequence[StyleRegion]):
        super().__init__(layer_weights, regions)
        # Computed once per style, in float64 (`wasserstein` says why): the target's mean,
        # covariance, its square root, the diagonal shift, its size.
        self._targets = {}
        for layer in self.layers:
            for index, region in enumerate(self.regions):
                moments = region.targets[layer]
                mean, covariance = _mean_and_covariance(
                    moments.mean[0], moments.second_moment[0], tf.constant(1.0, tf.float64))
                channels = tf.cast(tf.shape(covariance)[-1], tf.float64)
                shift = wasserstein.RELATIVE_EPSILON * tf.linalg.trace(covariance) / channels
                covariance = covariance + shift * tf.eye(tf.shape(covariance)[-1], dtype=tf.float64)
                size = tf.linalg.trace(tf.cast(moments.second_moment[0], tf.float64)) + losses.TINY
                self._targets[(layer, index)] = (mean, covariance,
                                                 wasserstein.square_root(covariance), shift, size)

    def distance(self, sums: Tensors, layer: str, region: int) -> tf.Tensor:
        mean, covariance, root, shift, size = self._targets[(layer, region)]
        own_mean, own_covariance = _mean_and_covariance(
            sums["sum"][0], sums["second_moment"][0],
            tf.cast(sums["positions"], tf.float64) + losses.TINY)
        own_covariance += shift * tf.eye(tf.shape(own_covariance)[-1], dtype=tf.float64)
        return tf.cast(wasserstein.squared_distance(own_mean, own_covariance, mean, covariance,
                                                    root) / size, tf.float32)


def _mean_and_covariance(total: tf.Tensor, second_moment: tf.Tensor, positions: tf.Tensor):
    """The mean and covariance, in float64, of features whose float32 sums are `total` and
    `second_moment` over `positions` (a float64 count)."""
    mean = tf.cast(total, tf.float64) / positions
    return mean, tf.cast(second_moment, tf.float64) / positions - mean[:, None] * mean[None, :]


STYLE_LOSSES = {"gram": GramLoss, "w2": WassersteinLoss}


class TotalVariation(ImageTerm):
    """Smoothness: neighbouring pixels' squared differences, across the edges that wrap
    around (`wrap`: rows, columns) too."""

    name = "tv"

    def __init__(self, wrap: Tuple[bool, bool] = (False, False)):
        self.wrap = tuple(wrap)

    def loss(self, image: tf.Tensor) -> tf.Tensor:
        return losses.total_variation_loss(image, self.wrap)


class TemporalLoss(ImageTerm):
    """Ruder et al.'s temporal loss against `warped` where `weights` says the flow is
    reliable; both variables, assigned for each frame."""

    name = "temporal"

    def __init__(self, warped: tf.Variable, weights: tf.Variable):
        self.warped, self.weights = warped, weights

    def loss(self, image: tf.Tensor) -> tf.Tensor:
        return losses.temporal_loss(image, self.warped, self.weights)


class LaplacianLoss(ImageTerm):
    """Li et al. 2017 ("Laplacian-Steered Neural Style Transfer"): the 3x3 Laplacian of the
    image after pool x pool average pooling, against the content's, as a relative squared
    error (like the content loss). `content` may be a variable (a video's frame). On the
    axes that wrap around (`wrap`) the Laplacian of both wraps too."""

    name = "laplacian"

    def __init__(self, content: tf.Tensor, pool: int, wrap: Tuple[bool, bool] = (False, False)):
        self.content, self.pool, self.wrap = content, int(pool), tuple(wrap)

    def loss(self, image: tf.Tensor) -> tf.Tensor:
        return losses.relative_squared_error(
            losses.pooled_laplacian(image, self.pool, self.wrap),
            losses.pooled_laplacian(self.content, self.pool, self.wrap))


class Objective:
    """L = sum of weight * term: Gatys eq. 7 (content and style), plus TV and optionally
    temporal and Laplacian terms. Reports `total`, each term by name, and their parts."""

    def __init__(self, feature_terms: Sequence[Tuple[float, FeatureTerm]],
                 image_terms: Sequence[Tuple[float, ImageTerm]]):
        self.feature_terms = tuple((float(weight), term) for weight, term in feature_terms)
        self.image_terms = tuple((float(weight), term) for weight, term in image_terms)
        self.layers = tuple(dict.fromkeys(
            layer for _, term in self.feature_terms for layer in term.layers))

    @property
    def names(self) -> Tuple[str, ...]:
        """The terms' names, in the order they are reported."""
        return tuple(term.name for _, term in self.feature_terms + self.image_terms)

    def position_maps(self) -> Dict[str, PositionMaps]:
        return {term.name: term.position_maps() for _, term in self.feature_terms}

    def statistics(self, features: Tensors, maps: Mapping[str, PositionMaps]) -> Dict[str, Tensors]:
        """Every feature term's sums over the positions of `features` (the network's outputs,
        in its precision) and the same positions of `maps`."""
        sums = {}
        # Absolute ("/"-ended): the statistics and the losses share one box in TensorBoard.
        with tf.name_scope("objective/"):
            for _, term in self.feature_terms:
                with tf.name_scope(term.name):
                    sums[term.name] = term.statistics(features, maps[term.name])
        return sums

    def losses(self, sums: Mapping[str, Tensors], image: tf.Tensor) -> Tensors:
        """Every term's loss, their parts and `total`, from the whole image's sums and the
        image itself."""
        result, parts = {}, {}
        with tf.name_scope("objective/"):
            for _, term in self.feature_terms:
                with tf.name_scope(term.name):
                    result[term.name], term_parts = term.loss(sums[term.name])
                parts.update({f"{term.name}/{part}": value for part, value in term_parts.items()})
            for _, term in self.image_terms:
                with tf.name_scope(term.name):
                    result[term.name] = term.loss(image)
            with tf.name_scope("total"):
                total = tf.add_n([weight * result[term.name]
                                  for weight, term in self.feature_terms + self.image_terms])
        return {"total": total, **result, **parts}



def build_objective(config: TransferConfig, targets: "Targets") -> Objective:
    """The weighted terms `config` asks for, comparing the image with `targets`."""
    style = STYLE_LOSSES[config.style_loss](
        dict(zip(config.style_layers, config.normalized_style_layer_weights)),
        targets.style_regions)
    image_terms = [(config.tv_weight, TotalVariation(config.wrap_axes))]
    if targets.temporal is not None:
        image_terms.append((config.temporal_weight, TemporalLoss(*targets.temporal)))
    if config.laplacian_weight > 0:
        image_terms.append((config.laplacian_weight,
                            LaplacianLoss(targets.content_image, config.laplacian_pool,
                                          config.wrap_axes)))
    # A texture has no photo: the style terms alone (Gatys et al., NeurIPS 2015).
    content = [] if config.is_texture else [(config.content_weight, ContentLoss(targets.content))]
    return Objective(content + [(config.resolved_style_weight, style)], image_terms)
