"""The public entry points: `run` and `plan` a picture or a video, whichever the config names.

The picture runner (`tf_style.picture_runner`) and the video runner
(`tf_style.video_runner`) sit below this module and share their set-up
(`tf_style.run_setup`) and loop (`tf_style.loop`).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence, Union

import numpy as np

from tf_style import run_setup
from tf_style.callbacks import CallbackLike
from tf_style.config import TransferConfig
from tf_style.picture_runner import plan_picture, run_picture
from tf_style.video_runner import plan_video, run_video
from tf_style.run_plan import Plan


def plan(config: TransferConfig) -> Plan:
    """The plan of a run, without running it (`--dry_run`): the network, its weights and the
    defaults they bring, the device, the precision, and per scale the whole image or tiles,
    with estimated memory and time. Raises TransferError when the inputs or weights are bad
    or nothing fits."""
    run_plan = plan_video(config) if config.is_video else plan_picture(config)
    return dataclasses.replace(run_plan, network_note=run_setup.describe_network(config))


def run(config: TransferConfig, callbacks: Sequence[CallbackLike] = ()) -> Union[np.ndarray, str]:
    """Runs (or resumes) a style transfer until `config.iters` steps; returns the image
    (for a video, the path of the video written: `tf_style.video_runner.run_video`).

    `callbacks` are `Callback`s or plain functions of a `StepReport`. Raises TransferError
    for anything the user can fix; nothing in an existing run directory is touched until
    the inputs, weights and settings have all been checked.
    """
    return run_video(config, callbacks) if config.is_video else run_picture(config, callbacks)
