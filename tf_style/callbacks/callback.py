"""The callback interface and what a callback sees after each step."""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Dict, Optional, Union

import numpy as np


@dataclasses.dataclass(frozen=True)
class StepReport:
    """What a callback sees after each step. `losses` are those of the image before it.

    `scale_end` is the step by which the current scale ends at the latest (this step, once
    it has converged); `scale_index` counts scales from 0 and `scale_step` is this step's
    number within its scale. `transfer` is the `StyleTransfer` holding the image variable.
    """

    step: int
    iters: int
    losses: Dict[str, float]
    seconds_per_step: float
    transfer: "StyleTransfer"  # noqa: F821 - not imported, to keep this module light
    scale_end: int
    presenter: Callable[[np.ndarray], np.ndarray] = dataclasses.field(
        default=lambda image: image, repr=False, compare=False)
    scale_index: int = 0
    scale_step: int = 0

    @functools.cached_property
    def image(self) -> np.ndarray:
        """The image after this step as a person sees it, (H, W, 3) float32 in 0-255.

        In the photo's colours with --preserve_colors luminance. Made on first use only.
        """
        return self.presenter(self.transfer.result())


def is_due(step: int, every: int, end: Optional[int] = None) -> bool:
    """Every `every` steps, and at `end` when one is given."""
    return step % every == 0 or step == end


class Callback:
    """Base class: override what you need. `on_run_end` runs however the run ends."""

    def on_step_end(self, report: StepReport) -> None:
        pass

    def on_tile_end(self, done: int, total: int) -> None:
        """Inside a tiled step, after each tile's pass (two passes: `total` is 2 x tiles)."""

    def on_run_end(self) -> None:
        pass


class LambdaCallback(Callback):
    """A plain function of a `StepReport`, called after every step."""

    def __init__(self, on_step_end: Callable[[StepReport], None]):
        self._on_step_end = on_step_end

    def on_step_end(self, report: StepReport) -> None:
        self._on_step_end(report)


# What `tf_style.run` takes as a callback: a `Callback`, or a plain function of a `StepReport`.
CallbackLike = Union[Callback, Callable[[StepReport], None]]


def as_callback(callback: CallbackLike) -> Callback:
    """`callback` itself, or a plain function wrapped as a `LambdaCallback`."""
    return callback if isinstance(callback, Callback) else LambdaCallback(callback)
