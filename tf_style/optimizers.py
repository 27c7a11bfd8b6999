"""The image's optimizers behind one interface: L-BFGS (Gatys et al.'s), Adam, RMSprop.

Each takes a step on the image from its loss and gradient (`update`), forgets its state
(`forget`: a new scale or frame), halves its rate (`halve_rate`: after a non-finite step),
and says which point to keep when the run ends here (`point_to_keep`). Each is its own
checkpointable object, so a run's checkpoint holds its state as before.
"""

from __future__ import annotations

from typing import Callable, Optional, Protocol

import keras
import tensorflow as tf

from tf_style.lbfgs import LBFGS

# The relative noise L-BFGS allows in the losses of a network in each precision. In
# bfloat16 (8-bit mantissa) the loss of one picture is 0.3% from float32's; at 256 px
# with the defaults, a sufficient-decrease test without slack stalled at step 164 at
# +9.4% loss against float32's result, with 1e-3 it ran 338 steps to +1.0%
# (benchmarks/precision.py). float16's loss error measured 19x smaller: 1e-4.
LOSS_TOLERANCE = {"float32": 0.0, "bfloat16": 1e-3, "float16": 1e-4}


class ImageOptimizer(Protocol):
    """What a run asks of its optimizer."""

    learning_rate: tf.Variable

    def build(self, variables) -> None:
        """Makes its state for the image, before the step is compiled."""

    def update(self, image: tf.Variable, loss: tf.Tensor, gradient: tf.Tensor) -> None:
        """One step on `image`, whose `loss` and `gradient` these are (in a tf.function)."""

    def forget(self) -> None:
        """Drops what it learnt of the loss (moments, history): a new start."""

    def halve_rate(self) -> float:
        """Halves the learning rate (and drops what no longer holds); returns the new rate."""

    def point_to_keep(self, image: tf.Variable,
                      loss_of_image: Callable[[], float]) -> Optional[tf.Tensor]:
        """The point to keep instead of `image` when the run ends here; None: `image`."""


class ImageLBFGS(LBFGS):
    """L-BFGS as an `ImageOptimizer`."""

    def update(self, image: tf.Variable, loss: tf.Tensor, gradient: tf.Tensor) -> None:
        self.apply(image, loss, gradient)

    def forget(self) -> None:
        self.restart()

    def halve_rate(self) -> float:
        self.restart()  # its history was of the step that failed
        return _halve(self.learning_rate)

    def point_to_keep(self, image: tf.Variable,
                      loss_of_image: Callable[[], float]) -> Optional[tf.Tensor]:
        """L-BFGS's last step is a trial the next step would have judged: when its loss is
        above the last point accepted, that point. In bfloat16 at 512 px, runs past ~300
        steps ended on such a trial 4% above it (benchmarks/precision.py)."""
        if int(self.iterations) == 0 or loss_of_image() <= float(self.accepted_loss):
            return None
        return tf.reshape(self.accepted_position, image.shape)


class _KerasImageOptimizer:
    """A Keras optimizer as an `ImageOptimizer` (mixed into Adam and RMSprop)."""

    def update(self, image: tf.Variable, loss: tf.Tensor, gradient: tf.Tensor) -> None:
        self.apply_gradients([(gradient, image)])

    def forget(self) -> None:
        for variable in self.variables:
            if "learning_rate" not in variable.path:
                variable.assign(tf.zeros_like(variable))

    def halve_rate(self) -> float:
        return _halve(self.learning_rate)

    def point_to_keep(self, image: tf.Variable,
                      loss_of_image: Callable[[], float]) -> Optional[tf.Tensor]:
        return None


class ImageAdam(_KerasImageOptimizer, keras.optimizers.Adam):
    """Adam as an `ImageOptimizer`."""


class ImageRMSprop(_KerasImageOptimizer, keras.optimizers.RMSprop):
    """RMSprop as an `ImageOptimizer`."""


def make_optimizer(name: str, learning_rate: float, lbfgs_history: int = 10,
                   precision: str = "float32") -> ImageOptimizer:
    """The optimizer for `--optimizer`; Adam's and RMSprop's rates are in 0-255 pixel units.
    L-BFGS allows for the loss noise of a network computing in `precision`."""
    if name == "lbfgs":
        # No pixel moves more than 32 per step: on 48 px images from noise this trust region
        # took L-BFGS from 223 to 48 after 30 steps (Adam: 118); from the content it cost nothing.
        return ImageLBFGS(learning_rate=learning_rate, history_size=lbfgs_history,
                          bounds=(0.0, 255.0), max_element_step=32.0,
                          loss_tolerance=LOSS_TOLERANCE[precision])
    if name == "adam":
        # Keras's epsilon (1e-7) is far below the gradients of the normalised losses;
        # the TF tutorial's 0.1 would swamp them and the image would barely move.
        return ImageAdam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999)
    if name == "rmsprop":
        return ImageRMSprop(learning_rate=learning_rate)
    raise ValueError(f"Unknown optimizer. Received: optimizer={name!r}")


def _halve(rate: tf.Variable) -> float:
    rate.assign(rate * 0.5)
    return float(rate.numpy())
