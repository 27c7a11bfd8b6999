"""The settings of one style-transfer run, as a frozen dataclass (no TensorFlow here).

Every check that needs no file and no network happens in `__post_init__`, so a bad
setting fails before anything touches the run directory.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from tf_style.architecture import MIN_IMAGE_SIDE, MODELS, conv_layer_names, layer_block
from tf_style.schedule import PYRAMID_SMALLEST_SIDE, TEXTURE_SMALLEST_SIDE, check_scales
from tf_style.settings import (MAX_ITERS, MAX_SEED, MAX_STYLES, check_fields, require_each,
                               parse_picture_size, require_fraction, require_image_side,
                               require_layers, require_picture_size,
                               require_non_negative_float, require_nonempty,
                               require_positive_float, require_positive_int, require_seed,
                               require_steps, require_tile_size, setting, unless_none)

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
# 91 steps, a tenth of Adam's time (docs/benchmarks.md).
OPTIMIZERS: Tuple[str, ...] = ("adam", "rmsprop", "lbfgs")
# Adam and RMSprop: pixels per step (0-255 units); L-BFGS: a multiple of its quasi-Newton step.
DEFAULT_LEARNING_RATES = {"adam": 5.0, "rmsprop": 2.0, "lbfgs": 1.0}
POOLINGS: Tuple[str, ...] = ("avg", "max")
# How an ONNX file's first conv wants its input (tf_style.onnx_weights).
ONNX_CONVENTIONS: Tuple[str, ...] = ("auto", "keras", "torchvision")
# How the style term compares feature statistics (tf_style.objective.STYLE_LOSSES).
STYLE_LOSS_NAMES: Tuple[str, ...] = ("gram", "w2")
# What the network's weights are: trained (ImageNet, from any file) or random (seeded, what
# a machine without any weight file gets). The style weight's default depends on it.
FEATURE_KINDS: Tuple[str, ...] = ("trained", "random")
# Random features: W2 is quadratic in the features where the Gram loss is quartic, so it
# pulls harder near its target: at 1000 its pictures kept much less of the photo (content
# score 0.08-0.43 against Gram's 0.34-0.69 on six pairs), at 100 about as much
# (benchmarks/quality.py). Trained features respond to the style term far more strongly:
# at Gram 1000 ImageNet VGG16 pasted the painting over the photo and never converged, at
# 10 it kept every subject and converged; W2 at 1 barely moved the photo, at 10 painted it
# as Gram does (docs/style-losses.md, "Trained features").
DEFAULT_STYLE_WEIGHTS = {
    "trained": {"gram": 10.0, "w2": 10.0},
    "random": {"gram": 1e3, "w2": 1e2},
}
INIT_KINDS: Tuple[str, ...] = ("content", "style", "noise")
# What the network computes in; statistics, losses, the image and the optimizer stay
# float32. auto: bfloat16 where the CPU (AMX, or AVX512_BF16 on AMD) or GPU (compute
# capability 8.0+) computes it natively and faster, else float32 (tf_style.devices).
PRECISIONS: Tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
DEVICES: Tuple[str, ...] = ("auto", "cpu", "gpu")

# The files 16-bit output can be written to (images.SIXTEEN_BIT_FORMATS).
SIXTEEN_BIT_EXTENSIONS: Tuple[str, ...] = (".png", ".tif", ".tiff")

# What --content may name to make a video (read and written with PyAV, the [video] extra).
VIDEO_EXTENSIONS: Tuple[str, ...] = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
# Where the output video goes; x264 in these containers plays nearly everywhere.
VIDEO_OUTPUT_EXTENSIONS: Tuple[str, ...] = (".mp4", ".mov", ".m4v", ".mkv")
FLOW_METHODS: Tuple[str, ...] = ("dis", "farneback")
# Which edges of a seamless picture meet their opposite: x joins left and right, y top and
# bottom (tf_style.vgg.WrapPadding2D).
SEAMLESS_AXES: Tuple[str, ...] = ("x", "y", "both")
FRAME_INITS: Tuple[str, ...] = ("previous", "init")


@dataclasses.dataclass(frozen=True)
class TransferConfig:
    """Everything that defines a style-transfer run. Paths are kept as given.

    Each field is also the command-line flag of the same name (train.py derives its flags
    from these fields). `style` and the mask settings take one path or several (a tuple,
    or a comma-separated string); they are stored as tuples.

    The input files and the weights change the picture too; a resumed run compares them
    by content (file digests, resolved weights, see `tf_style.run_directory`), not by path.
    """

    content: str = setting(
        "", help="the photo, or a video (.mp4, .mov, ...); a folder or a glob (quoted) makes a "
        "batch: every photo and video in each style", result=False,
        shown_default="(required, unless --texture_size)")
    style: Tuple[str, ...] = setting(
        (), help="the painting; several, comma-separated, are blended; a folder or a glob: "
        "each painting is a style of its own", result=False, shown_default="(required)")
    texture_size: Optional[str] = setting(
        None, help="WIDTHxHEIGHT: instead of a --content photo, synthesise a texture of this "
        "size from the painting alone (the style terms, from noise; --size follows it)",
        check=unless_none(require_picture_size), shown_default="off")
    style_blend: Optional[Tuple[float, ...]] = setting(
        None, help="one weight per style image, normalised to sum to 1",
        check=require_each(require_positive_float), shown_default="equal")
    preserve_colors: Optional[str] = setting(
        None, help="keep the photo's colours: luminance (transfer on luminance only) or "
        "histogram (recolour the style to the photo's colour statistics first)",
        choices=COLOR_MODES)
    content_mask: Tuple[str, ...] = setting(
        (), help="one mask per style: each style only where its mask is white", result=False)
    style_mask: Tuple[str, ...] = setting(
        (), help="one mask per style: take the style only from its white part", result=False)
    iters: int = setting(
        500, help=f"total optimisation steps (at most {MAX_ITERS:,}); a resumed run continues "
        f"up to this", result=False, check=require_steps)
    size: int = setting(
        512, help=f"longest side of the output, px (at least {MIN_IMAGE_SIDE})",
        check=require_image_side)
    style_scale: float = setting(
        1.0, help="style image's longest side relative to the content's: larger = bigger strokes",
        check=require_positive_float)
    max_image_megapixels: int = setting(
        180, help="refuse input images larger than this (decompression bombs); raise it for "
        "real giant scans", result=False, check=require_positive_int)
    weights: str = setting(
        "auto", help="auto (the model's ImageNet weights if available, else random), imagenet, "
        "random, or a path to a Keras .h5, MatConvNet .mat or ONNX .onnx file", result=False,
        check=require_nonempty)
    weights_dir: str = setting(
        "weights", help="where ImageNet weight files are looked for and downloaded", result=False)
    model: str = setting(
        "vgg19", help="the network whose features are matched: vgg19 (Gatys) or vgg16",
        choices=MODELS)
    onnx_convention: str = setting(
        "auto", help="what the first conv of an --weights .onnx file expects: keras (BGR, "
        "0-255 less Caffe's mean), torchvision (RGB in 0-1 less the ImageNet mean, over its "
        "deviation), or auto (read from the graph; refused when it cannot tell)",
        result=False, choices=ONNX_CONVENTIONS)
    pooling: str = setting("avg", help="pooling in the network: avg (Gatys) or max (the "
                           "ImageNet classifier)", choices=POOLINGS)
    content_layers: Tuple[str, ...] = setting(
        DEFAULT_CONTENT_LAYERS, help="the network's layers for the content loss",
        check=require_layers)
    style_layers: Tuple[str, ...] = setting(
        DEFAULT_STYLE_LAYERS, help="the network's layers for the style loss",
        check=require_layers)
    style_layer_weights: Optional[Tuple[float, ...]] = setting(
        None, help="one weight per style layer, normalised to sum to 1",
        check=require_each(require_positive_float), shown_default="equal")
    style_preset: Optional[str] = setting(
        None, help="style-layer weights by block: fine (small texture), coarse (large strokes), "
        "balanced", choices=tuple(STYLE_PRESETS))
    content_weight: float = setting(
        1.0, help="alpha, weight of the content loss", check=require_positive_float)
    style_weight: Optional[float] = setting(
        None, help="beta, weight of the style loss; by default per style loss and kind of "
        "weights: gram 10 (trained) or 1000 (random), w2 10 (trained) or 100 (random)",
        check=unless_none(require_positive_float), shown_default="per style loss and weights")
    tv_weight: float = setting(
        1e-2, help="weight of the total-variation loss (smoothness)",
        check=require_non_negative_float)
    style_loss: str = setting(
        "gram", help="how style statistics are compared: gram (Gatys) or w2 (Wasserstein-2 "
        "between the features' means and covariances)", choices=STYLE_LOSS_NAMES)
    laplacian_weight: float = setting(
        0.0, help="weight of the Laplacian loss (Li et al. 2017), which keeps the photo's fine "
        "structure; 0 turns it off", check=require_non_negative_float)
    laplacian_pool: int = setting(
        4, help="the Laplacian loss compares the images average-pooled by this many px",
        check=require_positive_int)
    seamless: Optional[str] = setting(
        None, help="a picture that tiles: x (left meets right), y (top meets bottom) or both; "
        "every conv, pool, the smoothness and the Laplacian term wrap around, and a wrapped "
        "side becomes a multiple of 16 px", choices=SEAMLESS_AXES, shown_default="off")
    optimizer: str = setting(
        "lbfgs", help="lbfgs (the paper's; reaches a given loss ~10x sooner than adam), adam "
        "or rmsprop", choices=OPTIMIZERS)
    lr: Optional[float] = setting(
        None, help="learning rate: pixels per step for adam (5) and rmsprop (2), 0-255 units; "
        "a multiple of the quasi-Newton step for lbfgs (1)",
        check=unless_none(require_positive_float), shown_default="per optimizer")
    lbfgs_history: int = setting(
        10, help="L-BFGS: how many past steps shape its curvature estimate",
        check=require_positive_int)
    scales: Optional[Tuple[int, ...]] = setting(
        None, help="coarse to fine: sizes to optimise at in turn (256,512; --size is always last) "
        f"or a number of octaves (2 = size/2, size; 1 = --size only); by default --size halved "
        f"while at least {PYRAMID_SMALLEST_SIDE} px ({TEXTURE_SMALLEST_SIDE} for a texture)",
        check=require_each(require_positive_int), shown_default="auto")
    # 0.3: at 512 px on ImageNet VGG16, at the full weight the coarse scale's strokes buried
    # part of the photo (Laplacian content score 0.47 against 0.54 from one scale at 512 px);
    # at 0.3 it ended nearer the photo and the painting than either (docs/convergence.md).
    coarse_style_ratio: float = setting(
        0.3, help="the style weight of the scales before the last, as a fraction of "
        "--style_weight: the coarse scale lays the picture out, the last one paints it",
        check=require_positive_float)
    # 0.3%: at 512 px in bfloat16 a run ended 0.04% from the loss of 500 steps and 0.2
    # grey levels from their picture, in 37% of 500 float32 steps' time; at 1% it ended
    # 2.8% and 6.3 grey levels away (benchmarks/precision.py).
    convergence_tolerance: float = setting(
        0.003, help="a scale ends once its lowest loss fell by less than this fraction over "
        "the last --convergence_window steps; 0: every scale runs to its share of --iters",
        result=False, check=require_non_negative_float)
    convergence_change: float = setting(
        5.0, help="a scale also ends once its picture moved less than this many grey levels "
        "(0-255, mean over pixels) over the last --convergence_window steps; 0: off",
        result=False, check=require_non_negative_float)
    convergence_window: int = setting(
        20, help="steps over which --convergence_tolerance and --convergence_change are judged",
        result=False, check=require_positive_int)
    tile_size: Optional[int] = setting(
        None, help="run the network over tiles of this many px (a multiple of 16) instead of the "
        "whole image: the same loss and gradient in less memory", result=False,
        check=unless_none(require_tile_size),
        shown_default="whole image if it fits --memory_limit, else the largest tiles that do")
    memory_limit: Optional[float] = setting(
        None, help="GB the run may use; decides whole image or tiles", result=False,
        check=unless_none(require_positive_float),
        shown_default="available memory (cgroup or machine) less 10%")
    dry_run: bool = setting(
        False, help="print the plan (sizes, scales, tiles, estimated memory and time) and exit",
        result=False)
    frames: bool = setting(
        False, help="the --content folder holds the frames of one video, in name order (not "
        "a batch of photos)", result=False)
    fps: Optional[float] = setting(
        None, help="frame rate of the video made from a --frames folder", result=False,
        check=unless_none(require_positive_float), shown_default="24")
    temporal_weight: float = setting(
        50.0, help="video: weight of the temporal loss (Ruder et al.), which keeps each frame "
        "like the previous stylised frame moved along the optical flow, where the flow is "
        "reliable; 0 turns it off", check=require_non_negative_float)
    frame_init: str = setting(
        "previous", help="video: each later frame starts from the previous stylised frame "
        "moved along the flow (previous), or from --init like the first (init)",
        choices=FRAME_INITS)
    frame_iters: Optional[int] = setting(
        None, help="video: steps for each frame after the first (it ends sooner once "
        "converged)", result=False, check=unless_none(require_steps),
        shown_default="--iters")
    flow: str = setting(
        "dis", help="video: OpenCV optical flow, dis (DIS, fast) or farneback",
        choices=FLOW_METHODS)
    init: str = setting(
        "content", help="start image: content, style, noise, or an image path",
        check=require_nonempty)
    init_noise_ratio: float = setting(
        0.0, help="mix this much seeded noise (0-1) into the start image", check=require_fraction)
    seed: int = setting(0, help=f"seed for random weights and noise (0 to {MAX_SEED}): same "
                        f"seed, same run", check=require_seed)
    deterministic: bool = setting(
        False, help="TensorFlow op determinism (bit-reproducible, slower)", result=False)
    precision: str = setting(
        "auto", help="what the network computes in: auto (bfloat16 where the CPU or GPU has "
        "it natively and faster, else float32), float32, bfloat16 (1.8x faster steps on AMD "
        "CPUs with AVX512_BF16), or float16 (GPUs only, with loss scaling)", choices=PRECISIONS)
    device: str = setting(
        "auto", help="where the network runs: gpu, cpu, or auto (the first GPU TensorFlow "
        "sees, else the CPU)", result=False, choices=DEVICES)
    workdir: Optional[str] = setting(
        None, help="the run directory; for a batch, the folder of its pairs' run directories "
        "(default runs/)", result=False, shown_default="runs/<content>-<style>")
    output: Optional[str] = setting(
        None, help="the final image: .png, .jpg, .webp, .tif, ...; tagged sRGB", result=False,
        shown_default="<workdir>/output.png (a video: output.mp4)")
    output_bits: Optional[int] = setting(
        None, help="bits per channel of --output: 16 for print (.png or .tif); by default "
        "the photo's: 16 from a 16-bit PNG or TIFF into a .png or .tif, else 8", result=False,
        choices=(8, 16), shown_default="the photo's")
    checkpoint_every: int = setting(
        50, help="steps between checkpoints", result=False, check=require_positive_int)
    summary_every: int = setting(
        10, help="steps between TensorBoard summaries", result=False, check=require_positive_int)
    save_every: int = setting(
        100, help="steps between intermediate images (<workdir>/images/)", result=False,
        check=require_positive_int)
    max_checkpoints: int = setting(
        3, help="checkpoints kept", result=False, check=require_positive_int)
    overwrite: bool = setting(
        False, help="discard a different run found in the run directory and start over",
        result=False)
    progress: bool = setting(
        True, help="progress bar (step/iters, losses, s/step, ETA)", result=False)
    gif: bool = setting(
        False, help="also write <workdir>/progress.gif from the --save_every images", result=False)
    sheet: bool = setting(
        False, help="also write <workdir>/sheet.png: content, style(s), result side by side",
        result=False)

    def __post_init__(self):
        for name in ("style", "content_mask", "style_mask"):
            value = getattr(self, name)
            object.__setattr__(self, name, tuple(value.split(",")) if isinstance(value, str)
                               else tuple(value))
        for name in ("content_layers", "style_layers", "scales"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else tuple(value))
        if self.texture_size is not None:
            self._set_up_texture()
        elif not self.content:
            raise ValueError("`content` must name an image file (or give `texture_size` for a "
                             "texture). Received: content=''")
        if not self.style or not all(self.style):
            raise ValueError(
                f"`style` must name one or more image files. Received: style={self.style}")
        check_fields(self)
        self._check_layers()
        self._check_style_settings()
        check_scales(self)
        if self.output_bits == 16 and self.output and not self.output.lower().endswith(
                SIXTEEN_BIT_EXTENSIONS):
            raise ValueError(f"`output_bits` 16 needs a {', '.join(SIXTEEN_BIT_EXTENSIONS)} "
                             f"--output. Received: output={self.output!r}")
        self._check_video_settings()

    def _set_up_texture(self) -> None:
        """A texture: no photo, so nothing that reads one; its size is --texture_size's
        longest side, and its start is noise unless --init names another."""
        check_fields(self)  # texture_size is well formed before it is read
        if self.content:
            raise ValueError("Give `content` (a photo to repaint) or `texture_size` (a texture "
                             f"from the painting alone), not both. Received: "
                             f"content={self.content!r} and texture_size={self.texture_size!r}")
        without_photo = {"content_mask": bool(self.content_mask),
                         "preserve_colors": self.preserve_colors is not None,
                         "laplacian_weight": self.laplacian_weight > 0, "frames": self.frames}
        for name, given in without_photo.items():
            if given:
                raise ValueError(f"`{name}` needs a photo; a texture (`texture_size`) has none. "
                                 f"Received: {name}={getattr(self, name)!r}")
        width, height = parse_picture_size(self.texture_size)
        object.__setattr__(self, "texture_size", f"{width}x{height}")
        object.__setattr__(self, "size", max(width, height))
        if self.init == "content":
            object.__setattr__(self, "init", "noise")

    def _check_layers(self) -> None:
        """Content and style layers that the chosen model has."""
        known = conv_layer_names(self.model)
        for name in ("content_layers", "style_layers"):
            layer_names = getattr(self, name)
            unknown = [layer for layer in layer_names if layer not in known]
            if unknown:
                raise ValueError(
                    f"`{name}` has layer(s) {', '.join(unknown)} that {self.model.upper()} lacks; "
                    f"its layers are {', '.join(known)}. Received: {name}={','.join(layer_names)}")

    def _check_style_settings(self) -> None:
        """Settings that must agree with the number of style images or style layers."""
        styles = len(self.style)
        if styles > MAX_STYLES:
            raise ValueError(f"`style` may blend at most {MAX_STYLES} paintings. "
                             f"Received: {styles} paintings")
        if self.style_blend is not None and len(self.style_blend) != styles:
            raise ValueError(f"`style_blend` needs one weight per style image ({styles}). "
                             f"Received: {len(self.style_blend)} weights")
        for name in ("content_mask", "style_mask"):
            masks = getattr(self, name)
            if masks and len(masks) != styles:
                raise ValueError(f"`{name}` needs one mask per style image ({styles}). "
                                 f"Received: {len(masks)} masks")
        if self.style_mask and not self.content_mask and styles > 1:
            raise ValueError("`style_mask` for several styles needs `content_mask` to place them. "
                             "Received: content_mask=()")
        if self.style_preset is not None and self.style_layer_weights is not None:
            raise ValueError("Give `style_preset` or `style_layer_weights`, not both. "
                             f"Received: style_preset={self.style_preset!r} and weights")
        if (self.style_layer_weights is not None
                and len(self.style_layer_weights) != len(self.style_layers)):
            raise ValueError(
                f"`style_layer_weights` needs one weight per style layer ({len(self.style_layers)}). "
                f"Received: {len(self.style_layer_weights)} weights")

    def _check_video_settings(self) -> None:
        if not self.is_video:
            if self.output and self.output.lower().endswith(VIDEO_EXTENSIONS):
                raise ValueError("`output` is a video but `content` is a picture (a video "
                                 f"--content, or --frames with a folder, makes one). "
                                 f"Received: output={self.output!r}")
            return
        if self.output and not self.output.lower().endswith(VIDEO_OUTPUT_EXTENSIONS):
            raise ValueError(f"`output` of a video must be {', '.join(VIDEO_OUTPUT_EXTENSIONS)}. "
                             f"Received: output={self.output!r}")
        if self.output_bits == 16:
            raise ValueError("`output_bits` 16 is for pictures; a video is written in 8 bits. "
                             f"Received: output_bits={self.output_bits}")
        if self.content_mask or self.style_mask:
            raise ValueError("Masks belong to one picture; a video's frames move. "
                             "Received: content_mask or style_mask with a video")
        if self.seamless:
            raise ValueError("`seamless` makes a picture that tiles; a video's frames are not "
                             f"tiled. Received: seamless={self.seamless!r} with a video")

    @property
    def is_video(self) -> bool:
        """Whether `content` names a video file, or (with `frames`) a folder of its frames."""
        return self.frames or self.content.lower().endswith(VIDEO_EXTENSIONS)

    @property
    def is_texture(self) -> bool:
        """Whether this run synthesises a texture from the painting alone (no photo)."""
        return self.texture_size is not None

    @property
    def texture_shape(self) -> Optional[Tuple[int, int]]:
        """(height, width) of a texture; None for a picture of a photo."""
        if self.texture_size is None:
            return None
        width, height = parse_picture_size(self.texture_size)
        return height, width

    @property
    def wrap_axes(self) -> Tuple[bool, bool]:
        """Whether the picture's rows and its columns wrap around (`seamless`)."""
        return (self.seamless in ("y", "both"), self.seamless in ("x", "both"))

    @property
    def later_frame_iters(self) -> int:
        """Steps for each frame of a video after the first."""
        return self.frame_iters or self.iters

    @property
    def normalized_style_layer_weights(self) -> Tuple[float, ...]:
        """Per-layer style weights scaled to sum to 1 (Gatys's w_l = 1/|L| by default)."""
        if self.style_preset is not None:
            by_block = STYLE_PRESETS[self.style_preset]
            return _normalized(tuple(by_block[layer_block(name) - 1] for name in self.style_layers))
        return _normalized(self.style_layer_weights or (1.0,) * len(self.style_layers))

    def style_weight_for(self, features: str) -> float:
        """`style_weight`, or the style loss's default for `features` (trained or random)."""
        if features not in FEATURE_KINDS:
            raise ValueError(f"`features` must be one of {FEATURE_KINDS}. Received: {features!r}")
        return (self.style_weight if self.style_weight is not None
                else DEFAULT_STYLE_WEIGHTS[features][self.style_loss])

    def with_feature_defaults(self, features: str) -> "TransferConfig":
        """This config with the defaults for `features` filled in: what a run uses once its
        weights are resolved (and what its run.json records)."""
        return dataclasses.replace(self, style_weight=self.style_weight_for(features))

    @property
    def resolved_style_weight(self) -> float:
        """`style_weight`, or the random-feature default where no weights were resolved
        (runs resolve them first: `with_feature_defaults`)."""
        return self.style_weight_for("random")

    @property
    def stops_on_convergence(self) -> bool:
        """Whether a scale may end before its budget: by the loss rule or the change rule."""
        return self.convergence_tolerance > 0 or self.convergence_change > 0

    @property
    def learning_rate(self) -> float:
        """`lr`, or the optimizer's default when it is not set."""
        return self.lr if self.lr is not None else DEFAULT_LEARNING_RATES[self.optimizer]

    @property
    def normalized_style_blend(self) -> Tuple[float, ...]:
        """How much each style image counts, scaled to sum to 1 (equal by default)."""
        return _normalized(self.style_blend or (1.0,) * len(self.style))


def _normalized(weights: Tuple[float, ...]) -> Tuple[float, ...]:
    total = sum(weights)
    return tuple(weight / total for weight in weights)

