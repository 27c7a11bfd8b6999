"""The settings of one style-transfer run, as a frozen dataclass (no TensorFlow here).

Every check that needs no file and no network happens in `__post_init__`, so a bad
setting fails before anything touches the run directory.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from typing import Optional, Tuple, Union

# The 16 conv layers of VGG19, named as `keras.applications.VGG19` names them.
VGG19_CONV_LAYER_NAMES: Tuple[str, ...] = (
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4",
)

DEFAULT_CONTENT_LAYERS: Tuple[str, ...] = ("block4_conv2",)
DEFAULT_STYLE_LAYERS: Tuple[str, ...] = (
    "block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1",
)

COLOR_MODES: Tuple[str, ...] = ("luminance", "histogram")

# Style-layer weights by VGG block (1-5): "fine" leans on the shallow layers that see
# small texture, "coarse" on the deep layers whose receptive fields see large strokes.
STYLE_PRESETS = {
    "balanced": (1.0, 1.0, 1.0, 1.0, 1.0),
    "fine": (1.0, 1.0, 0.5, 0.1, 0.02),
    "coarse": (0.02, 0.1, 0.5, 1.0, 1.0),
}

# All adapt their step to the gradient's scale, so `lr` keeps its meaning whatever the
# loss weights; plain SGD would need a learning rate tuned to each loss scale. L-BFGS is
# the default: in benchmarks/run.py it reached the loss of 1000 Adam steps at 512 px in
# 91 steps, a tenth of Adam's time (README, "Speed and convergence").
OPTIMIZERS: Tuple[str, ...] = ("adam", "rmsprop", "lbfgs")
# Adam and RMSprop: pixels per step (0-255 units); L-BFGS: a multiple of its quasi-Newton step.
DEFAULT_LEARNING_RATES = {"adam": 5.0, "rmsprop": 2.0, "lbfgs": 1.0}
POOLINGS: Tuple[str, ...] = ("avg", "max")
INIT_KINDS: Tuple[str, ...] = ("content", "style", "noise")

# VGG19 halves the image four times before block5; below this the deep layers vanish.
MIN_IMAGE_SIDE = 32

# Settings that change how long a run goes or how it reports, but never the image it
# produces at a given step: a resumed run may change these freely. The inputs and the
# weights are compared by content (file digests, resolved weights), not by these names.
NON_RESULT_FIELDS = frozenset({
    "iters", "workdir", "output", "checkpoint_every", "summary_every", "save_every",
    "overwrite", "max_checkpoints", "progress", "deterministic", "gif", "sheet",
    "content", "style", "weights", "weights_dir", "content_masks", "style_masks",
})


@dataclasses.dataclass(frozen=True)
class TransferConfig:
    """Everything that defines a style-transfer run. Paths are kept as given.

    `style` is one path or several (a tuple, or comma-separated); it is stored as a tuple.
    """

    content: str
    style: Union[str, Tuple[str, ...]]
    iters: int = 500
    size: int = 512
    style_scale: float = 1.0
    weights: str = "auto"
    weights_dir: str = "weights"
    pooling: str = "avg"
    content_layers: Tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: Tuple[str, ...] = DEFAULT_STYLE_LAYERS
    style_layer_weights: Optional[Tuple[float, ...]] = None
    style_preset: Optional[str] = None
    style_blend: Optional[Tuple[float, ...]] = None
    preserve_colors: Optional[str] = None
    content_masks: Tuple[str, ...] = ()
    style_masks: Tuple[str, ...] = ()
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 1e-2
    optimizer: str = "lbfgs"
    lr: Optional[float] = None
    lbfgs_history: int = 10
    scales: Tuple[int, ...] = ()
    init: str = "content"
    init_noise_ratio: float = 0.0
    seed: int = 0
    deterministic: bool = False
    workdir: Optional[str] = None
    output: Optional[str] = None
    checkpoint_every: int = 50
    summary_every: int = 10
    save_every: int = 100
    max_checkpoints: int = 3
    overwrite: bool = False
    progress: bool = True
    gif: bool = False
    sheet: bool = False

    def __post_init__(self):
        style = tuple(self.style.split(",")) if isinstance(self.style, str) else tuple(self.style)
        object.__setattr__(self, "style", style)
        if not self.content:
            raise ValueError("`content` must name an image file. Received: content=''")
        if not style or not all(style):
            raise ValueError(f"`style` must name one or more image files. Received: style={style}")
        if self.style_blend is not None:
            if len(self.style_blend) != len(style):
                raise ValueError(
                    f"`style_blend` needs one weight per style image ({len(style)}). "
                    f"Received: {len(self.style_blend)} weights")
            for weight in self.style_blend:
                _require_positive_float("style_blend", weight)
        for name in ("content_masks", "style_masks"):
            masks = getattr(self, name)
            if masks and len(masks) != len(style):
                raise ValueError(
                    f"`{name}` needs one mask per style image ({len(style)}). "
                    f"Received: {len(masks)} masks")
        if self.style_masks and not self.content_masks and len(style) > 1:
            raise ValueError("`style_masks` for several styles need `content_masks` to place them. "
                             "Received: content_masks=()")
        if self.preserve_colors is not None and self.preserve_colors not in COLOR_MODES:
            raise ValueError(f"`preserve_colors` must be one of {COLOR_MODES}. "
                             f"Received: preserve_colors={self.preserve_colors!r}")
        if self.style_preset is not None:
            if self.style_preset not in STYLE_PRESETS:
                raise ValueError(f"`style_preset` must be one of {tuple(STYLE_PRESETS)}. "
                                 f"Received: style_preset={self.style_preset!r}")
            if self.style_layer_weights is not None:
                raise ValueError("Give `style_preset` or `style_layer_weights`, not both. "
                                 f"Received: style_preset={self.style_preset!r} and weights")
        if not (isinstance(self.init_noise_ratio, (int, float)) and 0 <= self.init_noise_ratio <= 1):
            raise ValueError("`init_noise_ratio` must be between 0 and 1. "
                             f"Received: init_noise_ratio={self.init_noise_ratio!r}")
        _require_positive_int("iters", self.iters)
        _require_positive_int("size", self.size)
        if self.size < MIN_IMAGE_SIDE:
            raise ValueError(
                f"`size` must be at least {MIN_IMAGE_SIDE} px for VGG19. Received: size={self.size}")
        for name in ("checkpoint_every", "summary_every", "save_every", "max_checkpoints"):
            _require_positive_int(name, getattr(self, name))
        for name in ("style_scale", "content_weight", "style_weight"):
            _require_positive_float(name, getattr(self, name))
        if self.lr is not None:
            _require_positive_float("lr", self.lr)
        _require_positive_int("lbfgs_history", self.lbfgs_history)
        self._check_scales()
        if not (math.isfinite(self.tv_weight) and self.tv_weight >= 0):
            raise ValueError(f"`tv_weight` must be zero or positive. Received: tv_weight={self.tv_weight}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: pooling={self.pooling!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"`optimizer` must be one of {OPTIMIZERS}. Received: optimizer={self.optimizer!r}")
        if not self.init:
            raise ValueError("`init` must be content, style, noise or an image path. Received: init=''")
        for name in ("content_layers", "style_layers"):
            layer_names = getattr(self, name)
            if not layer_names:
                raise ValueError(f"`{name}` needs at least one layer. Received: {name}=()")
            unknown = [n for n in layer_names if n not in VGG19_CONV_LAYER_NAMES]
            if unknown:
                raise ValueError(
                    f"`{name}` has unknown VGG19 layer(s) {', '.join(unknown)}; known layers are "
                    f"{', '.join(VGG19_CONV_LAYER_NAMES)}. Received: {name}={','.join(layer_names)}")
            if len(set(layer_names)) != len(layer_names):
                raise ValueError(f"`{name}` repeats a layer. Received: {name}={','.join(layer_names)}")
        if self.style_layer_weights is not None:
            if len(self.style_layer_weights) != len(self.style_layers):
                raise ValueError(
                    f"`style_layer_weights` needs one weight per style layer ({len(self.style_layers)}). "
                    f"Received: {len(self.style_layer_weights)} weights")
            for weight in self.style_layer_weights:
                _require_positive_float("style_layer_weights", weight)

    def _check_scales(self) -> None:
        scales = tuple(self.scales)
        object.__setattr__(self, "scales", scales)
        for value in scales:
            _require_positive_int("scales", value)
        if len(scales) == 1 and scales[0] < MIN_IMAGE_SIDE:
            smallest = self.scale_sizes[0]
            if smallest < MIN_IMAGE_SIDE:
                raise ValueError(
                    f"`scales` asks for {scales[0]} octaves up to --size {self.size}; the smallest "
                    f"would be {smallest} px, under the {MIN_IMAGE_SIDE} px VGG19 needs. "
                    f"Received: scales={scales[0]}")
        elif scales:
            if any(value < MIN_IMAGE_SIDE for value in scales):
                raise ValueError(f"`scales` sizes must be at least {MIN_IMAGE_SIDE} px (or give one "
                                 f"number of octaves). Received: scales={_joined(scales)}")
            if list(scales) != sorted(set(scales)) or scales[-1] > self.size:
                raise ValueError(f"`scales` must rise from coarse to fine and end at most at --size "
                                 f"{self.size}. Received: scales={_joined(scales)}")
        if self.iters < len(self.scale_sizes):
            raise ValueError(f"`iters` must give each of the {len(self.scale_sizes)} scales a step. "
                             f"Received: iters={self.iters}")

    @property
    def scale_sizes(self) -> Tuple[int, ...]:
        """Longest sides optimised at, coarse to fine; the last is always `size`.

        `scales` is either those sizes or, as a single number under MIN_IMAGE_SIDE, a count
        of octaves: 3 means size/4, size/2, size.
        """
        if not self.scales:
            return (self.size,)
        if len(self.scales) == 1 and self.scales[0] < MIN_IMAGE_SIDE:
            return tuple(round(self.size / 2 ** octave) for octave in reversed(range(self.scales[0])))
        return tuple(self.scales) if self.scales[-1] == self.size else (*self.scales, self.size)

    @property
    def scale_steps(self) -> Tuple[int, ...]:
        """`iters` split evenly across the scales (any remainder goes to the finest)."""
        count = len(self.scale_sizes)
        base, remainder = divmod(self.iters, count)
        return tuple(base + (1 if index >= count - remainder else 0) for index in range(count))

    @property
    def scale_ends(self) -> Tuple[int, ...]:
        """The global step at which each scale ends."""
        return tuple(itertools.accumulate(self.scale_steps))

    @property
    def normalized_style_layer_weights(self) -> Tuple[float, ...]:
        """Per-layer style weights scaled to sum to 1 (Gatys's w_l = 1/|L| by default)."""
        if self.style_preset is not None:
            by_block = STYLE_PRESETS[self.style_preset]
            return _normalized(tuple(by_block[int(name[5]) - 1] for name in self.style_layers))
        return _normalized(self.style_layer_weights or (1.0,) * len(self.style_layers))

    @property
    def learning_rate(self) -> float:
        """`lr`, or the optimizer's default when it is not set."""
        return self.lr if self.lr is not None else DEFAULT_LEARNING_RATES[self.optimizer]

    @property
    def normalized_style_blend(self) -> Tuple[float, ...]:
        """How much each style image counts, scaled to sum to 1 (equal by default)."""
        return _normalized(self.style_blend or (1.0,) * len(self.style))

    @property
    def run_dir(self) -> str:
        """The run directory: `workdir`, or runs/<content>-<style> from the file names."""
        if self.workdir:
            return self.workdir
        stem = lambda path: os.path.splitext(os.path.basename(path))[0]  # noqa: E731
        styles = "+".join(stem(path) for path in self.style)
        return os.path.join("runs", f"{stem(self.content)}-{styles}")

    @property
    def output_path(self) -> str:
        return self.output or os.path.join(self.run_dir, "output.png")

    def result_settings(self) -> dict:
        """The settings that decide the image a run produces, for comparing runs."""
        settings = dataclasses.asdict(self)
        for name in NON_RESULT_FIELDS:
            settings.pop(name)
        settings["style_layer_weights"] = list(self.normalized_style_layer_weights)
        settings["style_blend"] = list(self.normalized_style_blend)
        settings["lr"] = self.learning_rate
        settings["scales"] = list(self.scale_sizes)
        if self.optimizer != "lbfgs":
            settings.pop("lbfgs_history")
        for name in ("content_layers", "style_layers"):
            settings[name] = list(settings[name])
        return settings


def _normalized(weights: Tuple[float, ...]) -> Tuple[float, ...]:
    total = sum(weights)
    return tuple(weight / total for weight in weights)


def _joined(values) -> str:
    return ",".join(str(value) for value in values)


def _require_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def _require_positive_float(name: str, value) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
