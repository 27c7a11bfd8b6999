"""Neural style transfer (Gatys et al.) from the command line.

    python train.py --content photo.jpg --style painting.jpg --iters 500

Rerun the same command to resume from the last checkpoint; watch it with
`tensorboard --logdir runs/`.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out

from absl import app, flags, logging  # noqa: E402

from tf_style import config as config_lib  # noqa: E402

_CONTENT = flags.DEFINE_string("content", None, "Content image (the photo).")
_STYLE = flags.DEFINE_list("style", None, "Style image(s) (the painting); several, comma-separated, are blended.")
_STYLE_BLEND = flags.DEFINE_list(
    "style_blend", None, "One weight per style image (normalised to sum to 1); default equal.")
_PRESERVE_COLORS = flags.DEFINE_enum(
    "preserve_colors", None, list(config_lib.COLOR_MODES),
    "Keep the photo's colours: luminance (transfer on luminance only) or histogram "
    "(recolour the style to the photo's colour statistics first).")
_CONTENT_MASK = flags.DEFINE_list(
    "content_mask", [], "Mask image(s), one per style: each style goes only where its mask is white.")
_STYLE_MASK = flags.DEFINE_list(
    "style_mask", [], "Mask image(s), one per style: take the style only from its white part.")
_ITERS = flags.DEFINE_integer("iters", 500, "Total optimisation steps; a resumed run continues to this.")
_SIZE = flags.DEFINE_integer("size", 512, "Longest side of the output in pixels.")
_STYLE_SCALE = flags.DEFINE_float(
    "style_scale", 1.0, "Style image's longest side relative to the content's; larger = bigger strokes.")
_WEIGHTS = flags.DEFINE_string(
    "weights", "auto", "VGG19 weights: auto (imagenet if available, else random), imagenet, random, "
    "or a path to a Keras .h5 or MatConvNet .mat file.")
_WEIGHTS_DIR = flags.DEFINE_string("weights_dir", "weights", "Where ImageNet weight files are looked for and downloaded.")
_POOLING = flags.DEFINE_enum("pooling", "avg", list(config_lib.POOLINGS), "Pooling in VGG19 (Gatys: avg).")
_CONTENT_LAYERS = flags.DEFINE_list(
    "content_layers", list(config_lib.DEFAULT_CONTENT_LAYERS), "VGG19 layers for the content loss.")
_STYLE_LAYERS = flags.DEFINE_list(
    "style_layers", list(config_lib.DEFAULT_STYLE_LAYERS), "VGG19 layers for the style loss.")
_STYLE_LAYER_WEIGHTS = flags.DEFINE_list(
    "style_layer_weights", None, "One weight per style layer (normalised to sum to 1); default equal.")
_STYLE_PRESET = flags.DEFINE_enum(
    "style_preset", None, list(config_lib.STYLE_PRESETS),
    "Style-layer weights by block: fine (small texture), coarse (large strokes) or balanced.")
_CONTENT_WEIGHT = flags.DEFINE_float("content_weight", 1.0, "Weight of the content loss.")
_STYLE_WEIGHT = flags.DEFINE_float("style_weight", 1e3, "Weight of the style loss.")
_TV_WEIGHT = flags.DEFINE_float("tv_weight", 1e-2, "Weight of the total-variation (smoothness) loss.")
_OPTIMIZER = flags.DEFINE_enum(
    "optimizer", "lbfgs", list(config_lib.OPTIMIZERS),
    "Optimizer: lbfgs (the paper's; reaches a given loss ~10x sooner than adam), adam or rmsprop.")
_LR = flags.DEFINE_float(
    "lr", None, "Learning rate: pixels per step for adam (default 5) and rmsprop (2); a multiple "
    "of the quasi-Newton step for lbfgs (1).")
_LBFGS_HISTORY = flags.DEFINE_integer("lbfgs_history", 10, "L-BFGS: how many past steps shape its curvature estimate.")
_SCALES = flags.DEFINE_list(
    "scales", [], "Coarse to fine: longest sides to optimise at in turn, e.g. 256,512 (--size is "
    "always the last), or one number of octaves, e.g. 2 = size/2 then size. --iters is split "
    "evenly across them. Default: one scale, --size.")
_INIT = flags.DEFINE_string("init", "content", "Start image: content, style, noise, or an image path.")
_INIT_NOISE_RATIO = flags.DEFINE_float(
    "init_noise_ratio", 0.0, "Mix this much seeded noise into the start image (0-1).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed for random weights and noise; same seed, same run.")
_DETERMINISTIC = flags.DEFINE_bool("deterministic", False, "Enable TensorFlow op determinism (slower).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory; default runs/<content>-<style>.")
_OUTPUT = flags.DEFINE_string("output", None, "Final image path; default <workdir>/output.png.")
_CHECKPOINT_EVERY = flags.DEFINE_integer("checkpoint_every", 50, "Steps between checkpoints.")
_SUMMARY_EVERY = flags.DEFINE_integer("summary_every", 10, "Steps between TensorBoard summaries.")
_SAVE_EVERY = flags.DEFINE_integer("save_every", 100, "Steps between intermediate images.")
_MAX_CHECKPOINTS = flags.DEFINE_integer("max_checkpoints", 3, "Checkpoints kept.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Discard a different run found in the run directory.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar.")
_GIF = flags.DEFINE_bool("gif", False, "Also write <workdir>/progress.gif from the --save_every images.")
_SHEET = flags.DEFINE_bool("sheet", False, "Also write <workdir>/sheet.png: content | style | result.")


def _fail(message: str, exit_code: int = 2) -> None:
    sys.stderr.write(f"train.py: error: {message}\n")
    sys.exit(exit_code)


def _numbers(flag_name: str, values, kind=float, what: str = "numbers"):
    """A list flag's values as `kind`, or None when the flag was not given."""
    if not values:
        return None
    try:
        return tuple(kind(value) for value in values)
    except ValueError:
        _fail(f"--{flag_name} must be {what}; got {','.join(values)}")


def _config_from_flags() -> config_lib.TransferConfig:
    if not _CONTENT.value or not _STYLE.value:
        _fail("--content and --style are required (image files)")
    layer_weights = _numbers("style_layer_weights", _STYLE_LAYER_WEIGHTS.value)
    style_blend = _numbers("style_blend", _STYLE_BLEND.value)
    scales = _numbers("scales", _SCALES.value, int, "whole numbers (sizes in px, or octaves)") or ()
    try:
        return config_lib.TransferConfig(
            content=_CONTENT.value, style=tuple(_STYLE.value), iters=_ITERS.value, size=_SIZE.value,
            style_scale=_STYLE_SCALE.value, weights=_WEIGHTS.value, weights_dir=_WEIGHTS_DIR.value,
            pooling=_POOLING.value, content_layers=tuple(_CONTENT_LAYERS.value),
            style_layers=tuple(_STYLE_LAYERS.value), style_layer_weights=layer_weights,
            style_preset=_STYLE_PRESET.value, style_blend=style_blend,
            preserve_colors=_PRESERVE_COLORS.value, content_masks=tuple(_CONTENT_MASK.value),
            style_masks=tuple(_STYLE_MASK.value), init_noise_ratio=_INIT_NOISE_RATIO.value,
            content_weight=_CONTENT_WEIGHT.value, style_weight=_STYLE_WEIGHT.value,
            tv_weight=_TV_WEIGHT.value, optimizer=_OPTIMIZER.value, lr=_LR.value,
            lbfgs_history=_LBFGS_HISTORY.value, scales=scales, init=_INIT.value,
            seed=_SEED.value, deterministic=_DETERMINISTIC.value, workdir=_WORKDIR.value,
            output=_OUTPUT.value, checkpoint_every=_CHECKPOINT_EVERY.value,
            summary_every=_SUMMARY_EVERY.value, save_every=_SAVE_EVERY.value,
            max_checkpoints=_MAX_CHECKPOINTS.value, overwrite=_OVERWRITE.value,
            progress=_PROGRESS.value, gif=_GIF.value, sheet=_SHEET.value)
    except ValueError as error:
        _fail(str(error))


def _parse_flags(argv):
    """absl's parser, with its errors (a bad enum, a non-number) in our one-line form."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        _fail(str(error))


def main(argv):
    if len(argv) > 1:
        _fail(f"unexpected arguments: {' '.join(argv[1:])}")
    config = _config_from_flags()
    import tf_style  # TensorFlow loads only once the flags are known to be good.

    try:
        tf_style.run(config)
    except tf_style.Interrupted as interrupted:
        _fail(str(interrupted), exit_code=128 + interrupted.signal_number)
    except tf_style.TransferError as error:
        _fail(str(error))


if __name__ == "__main__":
    logging.set_verbosity(logging.INFO)
    app.run(main, flags_parser=_parse_flags)
