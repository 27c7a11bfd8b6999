"""The optimisation: a `tf.Variable` image, fixed targets, and one train step (compiled whole,
or run tile by tile)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from tf_style.config import TransferConfig
from tf_style.evaluator import Crops, Evaluator
from tf_style.loss_scale import MAX_HALVINGS, DynamicLossScale, all_finite
from tf_style.objective import Objective, build_objective
from tf_style.optimizers import ImageOptimizer, make_optimizer
from tf_style.targets import Targets, assign_frame, make_targets
from tf_style.tile_geometry import ALIGNMENT

if TYPE_CHECKING:
    from tf_style.inputs import PreparedInputs


class StyleTransfer:
    """The image being optimised, its optimizer and step counter, and the step.

    Made of a few objects: an `Evaluator` (the objective's losses and gradient over the
    image's crops: whole, or tiles), the `Targets` its terms compare with (computed once,
    outside the step), an `ImageOptimizer`, and the start image. `train_step()` runs one
    update and returns the losses of the image it started from: `total`, each term by name
    (`content`, `style`, `tv`, ...) and `style/<layer>`. `next_frame` moves a video's
    transfer (and its compiled step) on to the next frame.

    The network computes in its own precision (`vgg.build_vgg`); its features are cast to
    float32 before any statistic, and the image, its gradient and the optimizer's state are
    float32. In float16 the gradient comes from a dynamically scaled loss (`loss_scale`).
    The image-sized state lives on the crops' state device (`Crops.on_state_device`).
    """

    def __init__(self, evaluator: Evaluator, targets: Targets, optimizer: ImageOptimizer,
                 initial_image: np.ndarray):
        self.evaluator = evaluator
        self.targets = targets
        self.optimizer = optimizer
        self.crops = evaluator.crops
        with self.crops.on_state_device():
            self.image = tf.Variable(initial_image[None].astype(np.float32), name="image")
            self.step = tf.Variable(0, dtype=tf.int64, name="step")
            self.optimizer.build([self.image])
        # float16 keeps the backward pass's small numbers only when the loss is scaled up.
        self.loss_scale = DynamicLossScale() if self.crops.precision == "float16" else None
        self._update = tf.function(self._apply_gradient)
        self._step_once = tf.function(self._step) if evaluator.traceable else self._step

    @classmethod
    def from_config(cls, config: TransferConfig, inputs: "PreparedInputs",
                    feature_model: keras.Model, initial_image: Optional[np.ndarray] = None,
                    tile_size: Optional[int] = None,
                    state_device: Optional[str] = None) -> "StyleTransfer":
        """The transfer a run of `config` makes from `inputs` at one scale or frame.

        Starts from `initial_image`, or from `inputs.initial_image` when it is None; runs
        in tiles of `tile_size` (the run's plan), or of `config.tile_size` when None.
        """
        _check_periodic(inputs, config.wrap_axes)
        crops = Crops(feature_model, tile_size or config.tile_size, state_device,
                      config.wrap_axes)
        targets = make_targets(
            crops, inputs.content_image, inputs.style_images,
            content_layers=() if config.is_texture else config.content_layers,
            style_layers=config.style_layers,
            style_blend=config.normalized_style_blend, content_masks=inputs.content_masks,
            style_masks=inputs.style_masks, keep_content_image=config.laplacian_weight > 0,
            temporal=config.is_video)
        with crops.on_state_device():
            optimizer = make_optimizer(config.optimizer, config.learning_rate,
                                       config.lbfgs_history, crops.precision)
        return cls(Evaluator(crops, build_objective(config, targets)), targets, optimizer,
                   inputs.initial_image if initial_image is None else initial_image)

    @property
    def objective(self) -> Objective:
        return self.evaluator.objective

    @property
    def feature_model(self) -> keras.Model:
        return self.crops.feature_model

    def network_outputs(self, image: tf.Tensor) -> Dict[str, tf.Tensor]:
        """Named VGG activations of an RGB 0-255 image batch, in the network's precision."""
        return self.crops.network_outputs(image)

    def compute_losses(self, image: tf.Tensor) -> Dict[str, tf.Tensor]:
        """The objective's losses of `image` (1, H, W, 3), over the whole image's features."""
        return self.evaluator.losses(image)

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

    def _step(self) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        image = self.image if self.evaluator.traceable else tf.convert_to_tensor(self.image)
        scale = None if self.loss_scale is None else self.loss_scale.scale
        step_losses, gradient = self.evaluator.losses_and_gradient(image, scale)
        update = self._apply_gradient if self.evaluator.traceable else self._update
        return step_losses, update(step_losses["total"], gradient)

    def _apply_gradient(self, total: tf.Tensor, gradient: tf.Tensor) -> tf.Tensor:
        """One optimizer update from the loss and gradient at the current image, clipped;
        returns whether it was made. With a loss scale the gradient comes scaled: it is
        unscaled, and a non-finite one only halves the scale."""
        with self.crops.on_state_device():
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
        if self.evaluator.traceable:
            return self._step_once.get_concrete_function().graph
        return self.evaluator.tile_gradient_graph()

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
        """Moves a video's transfer on to a frame: its targets (`targets.assign_frame`) and
        its start image. The optimizer starts afresh, at `learning_rate`."""
        assign_frame(self.targets, self.crops, content_image, warped, reliable)
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
        return float(self.evaluator.losses(tf.convert_to_tensor(self.image))["total"])


def _check_periodic(inputs: "PreparedInputs", wrap: Tuple[bool, bool]) -> None:
    """A seamless picture goes through the wrapped network, whose pools keep it periodic
    only where each side that wraps is a multiple of 16 (`inputs.wrapped_size`, which
    `prepare_inputs` applies)."""
    height, width = inputs.content_image.shape[:2]
    if (wrap[0] and height % ALIGNMENT) or (wrap[1] and width % ALIGNMENT):
        raise ValueError(f"A seamless picture needs each side that wraps at a multiple of "
                         f"{ALIGNMENT} px. Received: {width}x{height} with wrap {wrap}")
