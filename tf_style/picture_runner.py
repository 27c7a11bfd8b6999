"""A picture run, top to bottom: inputs at every scale, the plan, then a run session whose
stages are the scales (coarse to fine), and the outputs.

Each scale starts from the previous scale's result, upsampled, with the detail of its own
start image (the photo's, by default; none from a noise start); the step counter runs on
across scales.
"""

from __future__ import annotations

import os
from typing import Sequence, Tuple

import numpy as np
from absl import logging

from tf_style import outputs, run_directory, run_identity, run_setup, schedule
from tf_style.callbacks import CallbackLike, ProgressBar
from tf_style.checkpoints import checkpointed_scale
from tf_style.config import TransferConfig
from tf_style.inputs import PreparedInputs, prepare_inputs
from tf_style.run_plan import Plan
from tf_style.run_session import Stage, log_tiles, open_session


def plan_picture(config: TransferConfig) -> Plan:
    """Finds the device, loads the inputs at every scale and plans each scale: whole image
    or tiles, within the device's memory. Raises TransferError when they are bad or
    nothing fits."""
    device, precision = run_setup.set_up_device(config)
    run_setup.check_size_before_loading(config, device, precision)
    return run_setup.plan_scales(config, _prepare_scales(config), device, precision)


def _prepare_scales(config: TransferConfig) -> Tuple[PreparedInputs, ...]:
    return tuple(prepare_inputs(config, size) for size in schedule.scale_sizes(config))


def run_picture(config: TransferConfig, callbacks: Sequence[CallbackLike] = ()) -> np.ndarray:
    """Runs (or resumes) a picture until `config.iters` steps or convergence; returns it.

    Nothing in an existing run directory is touched until the inputs (at every scale),
    weights and settings have all been checked.
    """
    device, precision = run_setup.set_up_run(config)
    run_setup.check_size_before_loading(config, device, precision)
    scales = _prepare_scales(config)
    run_plan = run_setup.plan_scales(config, scales, device, precision)
    progress_bar = ProgressBar(config.iters, enabled=config.progress, scales=[
        (steps, scale.seconds_per_step)
        for steps, scale in zip(run_plan.expected_steps(config), run_plan.scales)])
    with open_session(config, scales[-1].original_content.shape[:2], progress_bar, callbacks,
                      device, precision) as session:
        config = session.config
        checkpoint_dir = os.path.join(run_identity.run_dir(config), run_directory.CHECKPOINT_DIR)
        ends = schedule.scale_ends(config)
        start_image, start_step = None, 0  # None: the first scale's own start, or its checkpoint
        for index in range(checkpointed_scale(checkpoint_dir), len(scales)):
            inputs, tile_size = scales[index], run_plan.tile_size_at(index)
            style_weight = schedule.scale_style_weight(config, index)
            if tile_size is not None:
                scale_plan = run_plan.scales[index]
                log_tiles(inputs, scale_plan.tiles, tile_size, scale_plan.peak_bytes,
                          run_plan.limit_bytes)
            if len(scales) > 1:
                log_scale(index, len(scales), inputs, ends[index], style_weight)
            transfer = session.run(Stage(
                index, inputs, first_step=start_step, end=ends[index],
                checkpoint_dir=checkpoint_dir, tile_size=tile_size,
                start_image=None if start_image is None else inputs.upsampled(
                    start_image, with_detail=config.init != "noise", wrap=config.wrap_axes),
                resume=start_image is None, style_weight=style_weight))
            # One forward pass decides it (at 8K in tiles, minutes): kept for the output.
            start_image, start_step = transfer.best_result(), int(transfer.step)
        session.finish()
        result = scales[-1].present(start_image)
        outputs.write_outputs(config, scales[-1], result, steps=start_step)
    return result


def log_scale(index: int, count: int, inputs: PreparedInputs, end: int,
              style_weight: float) -> None:
    """The line that starts a scale of several."""
    logging.info("Scale %d/%d: %dx%d px, style weight %g, until converged or step %d",
                 index + 1, count, inputs.content_image.shape[1], inputs.content_image.shape[0],
                 style_weight, end)
