"""The optimisation: a `tf.Variable` image, fixed targets, and one compiled train step."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Dict, Optional, Sequence, Tuple, Union

import keras
import numpy as np
import tensorflow as tf

from tf_style import objective, tile_geometry, tiling, vgg
from tf_style.config import TransferConfig
from tf_style.optimizers import make_optimizer
from tf_style.loss_scale import MAX_HALVINGS, DynamicLossScale, all_finite
from tf_style.objective import StyleRegion

if TYPE_CHECKING:
    from tf_style.inputs import PreparedInputs


class StyleTransfer:
    """Holds the image being optimised, its optimizer and step counter, and the step.

    Targets (content features, the styles' feature moments) are computed once here,
    outside the step, and make the `objective`. `train_step()` runs one compiled update
    and returns the losses of the image it started from: `total`, each term by name
    (`content`, `style`, `tv`, ...) and `style/<layer>`.

    `style_loss` compares feature statistics by Gram matrix ("gram") or by Wasserstein-2
    distance between Gaussians ("w2"). Several style images are blended by `style_blend`:
    into one target per layer (their moments averaged), or, with `content_masks`, each
    applied inside its own region of the content (guided statistics). `style_masks`
    restrict the part of each style image its statistics come from. `laplacian_weight`
    adds Li et al.'s Laplacian term (`objective.LaplacianLoss`).

    With `temporal_weight` (a video) the loss has a `temporal` term too, and `next_frame`
    moves the same transfer (and its compiled step) on to the next frame.

    The network computes in its own precision (`vgg.build_vgg`); its features are cast
    to float32 before any statistic, and the image, its gradient and the optimizer's state
    are float32. In float16 the gradient comes from a dynamically scaled loss
    (`loss_scale`). `state_device` places the image-sized state (image, optimizer, content
    targets) on another device than the network's: the machine's memory ("/CPU:0") for a
    tiled step on a GPU.
    """

    def __init__(self, feature_model: keras.Model, content_image: np.ndarray,
                 style_images: Union[np.ndarray, Sequence[np.ndarray]], initial_image: np.ndarray,
                 *, content_layers: Sequence[str], style_layers: Sequence[str],
                 style_layer_weights: Sequence[float], content_weight: float,
                 style_weight: float, tv_weight: float, optimizer: str, learning_rate: float,
                 lbfgs_history: int = 10, style_blend: Optional[Sequence[float]] = None,
                 content_masks: Optional[Sequence[np.ndarray]] = None,
                 style_masks: Optional[Sequence[np.ndarray]] = None,
                 tile_size: Optional[int] = None, temporal_weight: Optional[float] = None,
                 state_device: Optional[str] = None, style_loss: str = "gram",
                 laplacian_weight: float = 0.0, laplacian_pool: int = 4):
        if isinstance(style_images, np.ndarray) and style_images.ndim == 3:
            style_images = [style_images]
        self.feature_model = feature_model
        self.state_device = state_device
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self.style_layer_weights = dict(zip(self.style_layers, style_layer_weights))
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        if style_loss not in objective.STYLE_LOSSES:
            raise ValueError(f"Unknown style loss. Received: style_loss={style_loss!r}")

        self._build(content_image, style_images, initial_image, optimizer, learning_rate,
                    lbfgs_history, style_blend, content_masks, style_masks, tile_size,
                    temporal_weight)
        self.objective = self._make_objective(style_loss, float(laplacian_weight),
                                              laplacian_pool, content_image)
        self._update = tf.function(self._apply_gradient)
        if tile_size:
            # The network runs tile by tile; the loss and gradient are the same (tiling.py).
            self.tiled = tiling.TiledObjective(self, tile_size)
            self._step_once = self._tiled_train_step
        else:
            self.tiled = None
            self._step_once = tf.function(self._train_step)

    def _build(self, content_image, style_images, initial_image, optimizer, learning_rate,
               lbfgs_history, style_blend, content_masks, style_masks, tile_size,
               temporal_weight) -> None:
        """The targets, the image variable and the optimizer's state. The network runs where
        it runs; what it makes is kept on the state device."""
        # With tiles, the targets are computed tile by tile too: a whole-image forward pass
        # would cost what the tiles save.
        content_height, content_width = content_image.shape[:2]
        if tile_size:
            self.content_targets = tiling.stitched_features(
                self.network_outputs, content_image, tile_size, self.content_layers,
                self.state_device, vgg.architecture(self.feature_model))
        else:
            content_features = self.network_outputs(tf.constant(content_image[None], tf.float32))
            # Variables, not constants: a video's next frame assigns its own (next_frame).
            # Kept in the network's precision, which is all they hold.
            with self.on_state_device():
                self.content_targets = {
                    name: tf.Variable(content_features[name], trainable=False, name=name)
                    for name in self.content_layers}
        blend = np.asarray(style_blend if style_blend is not None else [1.0] * len(style_images))
        blend = blend / blend.sum()
        style_moments = []
        for index, style_image in enumerate(style_images):
            guides = (_layer_guides(style_masks[index], style_image.shape[:2], self.style_layers)
                      if style_masks else None)
            if tile_size:
                style_moments.append(tiling.tiled_moments(
                    self.network_outputs, style_image, tile_size, self.style_layers, guides,
                    vgg.architecture(self.feature_model)))
            else:
                style_features = self.network_outputs(tf.constant(style_image[None], tf.float32))
                style_moments.append({name: objective.moments_from_sums(objective.moment_sums(
                    style_features[name], None if guides is None else guides[name]))
                    for name in self.style_layers})
        if content_masks:
            with self.on_state_device():
                self.style_regions = tuple(
                    StyleRegion(float(weight), moments, _layer_guides(
                        mask, (content_height, content_width), self.style_layers))
                    for weight, moments, mask in zip(blend, style_moments, content_masks))
        else:
            blended = {name: objective.blend([moments[name] for moments in style_moments], blend)
                       for name in self.style_layers}
            self.style_regions = (StyleRegion(1.0, blended),)

        with self.on_state_device():
            self.image = tf.Variable(initial_image[None].astype(np.float32), name="image")
            self.temporal_weight = temporal_weight
            if temporal_weight is not None:
                if tile_size:
                    raise ValueError("A video's frames run whole, not in tiles. "
                                     f"Received: tile_size={tile_size}")
                # The previous stylised frame, warped, and where the flow is reliable; all-zero
                # weights (the first frame) leave the loss as a picture's.
                self.temporal_target = tf.Variable(tf.zeros_like(self.image), trainable=False,
                                                   name="temporal_target")
                self.temporal_weights = tf.Variable(tf.zeros_like(self.image[..., :1]),
                                                    trainable=False, name="temporal_weights")
            self.step = tf.Variable(0, dtype=tf.int64, name="step")
            precision = vgg.compute_precision(self.feature_model)
            self.optimizer = make_optimizer(optimizer, learning_rate, lbfgs_history, precision)
            self.optimizer.build([self.image])
        # float16 keeps the backward pass's small numbers only when the loss is scaled up.
        self.loss_scale = DynamicLossScale() if precision == "float16" else None

    def _make_objective(self, style_loss: str, laplacian_weight: float, laplacian_pool: int,
                        content_image: np.ndarray) -> objective.Objective:
        """The weighted terms of the loss, from the targets `_build` made."""
        style = objective.STYLE_LOSSES[style_loss](self.style_layer_weights, self.style_regions)
        image_terms = [(self.tv_weight, objective.TotalVariation())]
        with self.on_state_device():
            if self.temporal_weight is not None:
                image_terms.append((self.temporal_weight, objective.TemporalLoss(
                    self.temporal_target, self.temporal_weights)))
            self.laplacian_content = None
            if laplacian_weight > 0:
                # A variable: a video's next frame assigns its own.
                self.laplacian_content = tf.Variable(content_image[None].astype(np.float32),
                                                     trainable=False, name="laplacian_content")
                image_terms.append((laplacian_weight, objective.LaplacianLoss(
                    self.laplacian_content, laplacian_pool)))
        return objective.Objective(
            [(self.content_weight, objective.ContentLoss(
                {name: self.content_targets[name] for name in self.content_layers})),
             (self.style_weight, style)], image_terms)

    def on_state_device(self):
        """The scope that places what is made in it on the state device (none: TensorFlow's
        default placement)."""
        return tf.device(self.state_device) if self.state_device else contextlib.nullcontext()

    @classmethod
    def from_config(cls, config: TransferConfig, inputs: "PreparedInputs",
                    feature_model: keras.Model, initial_image: Optional[np.ndarray] = None,
                    tile_size: Optional[int] = None,
                    state_device: Optional[str] = None) -> "StyleTransfer":
        """The transfer a run of `config` makes from `inputs` at one scale.

        Starts from `initial_image`, or from `inputs.initial_image` when it is None; runs
        in tiles of `tile_size` (the run's plan), or of `config.tile_size` when None.
        """
        return cls(
            feature_model, inputs.content_image, inputs.style_images,
            inputs.initial_image if initial_image is None else initial_image,
            content_layers=config.content_layers, style_layers=config.style_layers,
            style_layer_weights=config.normalized_style_layer_weights,
            content_weight=config.content_weight, style_weight=config.resolved_style_weight,
            tv_weight=config.tv_weight, optimizer=config.optimizer,
            learning_rate=config.learning_rate, lbfgs_history=config.lbfgs_history,
            style_blend=config.normalized_style_blend, content_masks=inputs.content_masks,
            style_masks=inputs.style_masks, tile_size=tile_size or config.tile_size,
            temporal_weight=config.temporal_weight if config.is_video else None,
            state_device=state_device, style_loss=config.style_loss,
            laplacian_weight=config.laplacian_weight, laplacian_pool=config.laplacian_pool)

    def network_outputs(self, image: tf.Tensor) -> Dict[str, tf.Tensor]:
        """Named VGG activations of an RGB 0-255 image batch, in the network's precision."""
        with tf.name_scope("image"):
            preprocessed = vgg.preprocess_input(image)
        return self.feature_model(preprocessed)

    def compute_losses(self, image: tf.Tensor) -> Dict[str, tf.Tensor]:
        """The objective's losses of `image` (1, H, W, 3): its statistics summed over every
        position of the whole image's features (`objective.Objective`)."""
        features = self.network_outputs(image)
        sums = self.objective.statistics(features, self.objective.position_maps())
        return self.objective.losses(sums, image)

    def train_step(self) -> Dict[str, tf.Tensor]:
        """One update; returns the losses of the image it started from.

        In float16 a step whose scaled gradient was not finite is taken again at half the
        loss scale; after MAX_HALVINGS its total loss is reported as NaN (the run's
        roll-back takes it from there)."""
        for _ in range(MAX_HALVINGS if self.loss_scale is not None else 1):
            step_losses, applied = self._step_once()
            if self.loss_scale is None or bool(applied):
                return step_losses
        return {**step_losses, "total": tf.constant(float("nan"))}

    def _train_step(self) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        with tf.GradientTape() as tape:
            step_losses = self.compute_losses(self.image)
            total = step_losses["total"]
            if self.loss_scale is not None:
                total = total * self.loss_scale.scale
        # The tape names its ops gradient_tape/...; its sums join them there.
        with tf.name_scope("gradient_tape/"):
            gradient = tape.gradient(total, self.image)
        return step_losses, self._apply_gradient(step_losses["total"], gradient)

    def _tiled_train_step(self) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        step_losses, gradient = self.tiled.losses_and_gradient(tf.convert_to_tensor(self.image))
        return step_losses, self._update(step_losses["total"], gradient)

    def _apply_gradient(self, total: tf.Tensor, gradient: tf.Tensor) -> tf.Tensor:
        """One optimizer update from the loss and gradient at the current image, clipped;
        returns whether it was made. With a loss scale the gradient comes scaled: it is
        unscaled, and a non-finite one only halves the scale."""
        with self.on_state_device():
            if self.loss_scale is None:
                self._update_image(total, gradient)
                return tf.constant(True)
            gradient = gradient / self.loss_scale.scale
            finite = all_finite(gradient)
            self.loss_scale.update(finite)
            tf.cond(finite, lambda: self._update_image(total, gradient), lambda: None)
            return finite

    def _update_image(self, total: tf.Tensor, gradient: tf.Tensor) -> None:
        with tf.name_scope("optimizer"):
            self.optimizer.update(self.image, total, gradient)
        with tf.name_scope("clip"):
            self.image.assign(tf.clip_by_value(self.image, 0.0, 255.0))
        with tf.name_scope("step"):
            self.step.assign_add(1)

    def step_graph(self) -> tf.Graph:
        """The graph that does the step's network work, for TensorBoard: the whole step, or
        with tiles, one tile's forward and backward pass."""
        if self.tiled is None:
            return self._step_once.get_concrete_function().graph
        return self.tiled.tile_gradient_graph()

    @tf.function
    def image_is_finite(self) -> tf.Tensor:
        """Whether every pixel is a number (a non-finite step leaves NaN or inf behind)."""
        return tf.reduce_all(tf.math.is_finite(self.image))

    def restart(self, image: np.ndarray) -> None:
        """Starts again from `image` with the optimizer's state (moments, history) forgotten."""
        self.image.assign(image[None].astype(np.float32))
        self.optimizer.forget()

    def next_frame(self, content_image: np.ndarray, initial_image: np.ndarray,
                   warped: Optional[np.ndarray] = None, reliable: Optional[np.ndarray] = None,
                   learning_rate: Optional[float] = None) -> None:
        """Moves a video's transfer on to a frame: its content targets, its start image, and
        for the temporal loss the previous result `warped` and where it is `reliable` (H, W)
        (None: no temporal term). The optimizer starts afresh, at `learning_rate`."""
        content_features = self.network_outputs(tf.constant(content_image[None], tf.float32))
        for name in self.content_layers:
            self.content_targets[name].assign(content_features[name])
        if self.laplacian_content is not None:
            self.laplacian_content.assign(content_image[None].astype(np.float32))
        if warped is None:
            self.temporal_weights.assign(tf.zeros_like(self.temporal_weights))
        else:
            self.temporal_target.assign(warped[None].astype(np.float32))
            self.temporal_weights.assign(reliable[None, :, :, None].astype(np.float32))
        self.restart(initial_image)
        if learning_rate is not None:
            self.optimizer.learning_rate.assign(learning_rate)

    def halve_learning_rate(self) -> float:
        """Halves the learning rate (L-BFGS: also forgets its history); returns the new rate."""
        return self.optimizer.halve_rate()

    def result(self) -> np.ndarray:
        """The current image as an (H, W, 3) float32 RGB array in 0-255."""
        return self.image.numpy()[0]

    def best_result(self) -> np.ndarray:
        """The image to keep when the optimisation ends here: the current one, or the point
        its optimizer would rather keep (L-BFGS: the last point it accepted, when its last
        step was a worse trial; one forward pass decides)."""
        kept = self.optimizer.point_to_keep(self.image, self._current_loss)
        return self.result() if kept is None else kept.numpy()[0]

    def _current_loss(self) -> float:
        image = tf.convert_to_tensor(self.image)
        if self.tiled is not None:
            return float(self.tiled.losses(image)["total"])
        return float(self._total_loss(image))

    @tf.function(reduce_retracing=True)
    def _total_loss(self, image: tf.Tensor) -> tf.Tensor:
        return self.compute_losses(image)["total"]


def _layer_guides(mask: np.ndarray, image_size: Tuple[int, int],
                  layer_names: Sequence[str]) -> Dict[str, tf.Tensor]:
    """A (H, W) mask in [0, 1] averaged down to each layer's resolution."""
    mask = tf.constant(mask[None, :, :, None], tf.float32)
    return {name: tf.constant(tf.image.resize(
        mask, tile_geometry.layer_shape(*image_size, name), method="area")) for name in layer_names}
