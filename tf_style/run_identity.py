"""What identifies a run: its directory, where its output goes, and the settings that
decide its picture (compared when a run resumes)."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from tf_style.schedule import scale_sizes, uses_coarse_style_ratio

if TYPE_CHECKING:
    from tf_style.config import TransferConfig

# Where runs go without --workdir: a run in RUNS_DIR/<content>-<style>, a batch's pairs in it.
RUNS_DIR = "runs"
# What stands for the photo in a texture's names (runs/texture-<style>).
TEXTURE_LABEL = "texture"


def run_dir(config: "TransferConfig") -> str:
    """The run directory: `workdir`, or runs/<content>-<style> from the file names."""
    if config.workdir:
        return config.workdir
    stem = lambda path: os.path.splitext(os.path.basename(path))[0]  # noqa: E731
    styles = "+".join(stem(path) for path in config.style)
    content = TEXTURE_LABEL if config.is_texture else stem(config.content)
    return os.path.join(RUNS_DIR, f"{content}-{styles}")


def output_path(config: "TransferConfig") -> str:
    """Where the picture or video goes: --output, or output.png (.mp4) in the run directory."""
    default = "output.mp4" if config.is_video else "output.png"
    return config.output or os.path.join(run_dir(config), default)


def result_settings(config: "TransferConfig") -> dict:
    """The settings that decide the image a run produces, for comparing runs."""
    settings = {field.name: getattr(config, field.name)
                for field in dataclasses.fields(config) if field.metadata["result"]}
    settings["style_layer_weights"] = list(config.normalized_style_layer_weights)
    settings["style_blend"] = list(config.normalized_style_blend)
    settings["lr"] = config.learning_rate
    settings["style_weight"] = config.resolved_style_weight
    settings["scales"] = list(scale_sizes(config))
    if config.optimizer != "lbfgs":
        settings.pop("lbfgs_history")
    if not uses_coarse_style_ratio(config):
        settings.pop("coarse_style_ratio")
    if not config.is_video:  # a picture's run.json stays as it was before videos
        for name in ("temporal_weight", "frame_init", "flow"):
            settings.pop(name)
    for name in ("content_layers", "style_layers"):
        settings[name] = list(settings[name])
    return settings
