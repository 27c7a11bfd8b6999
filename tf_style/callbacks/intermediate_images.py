"""Intermediate images in the run directory, every N steps."""

from __future__ import annotations

import os

from tf_style import images
from tf_style.callbacks.callback import Callback, StepReport, is_due


class IntermediateImages(Callback):
    """Writes `<directory>/step_NNNNNN.png` every `every` steps (the presented image)."""

    def __init__(self, directory: str, every: int):
        self.directory = directory
        self.every = every

    def on_step_end(self, report: StepReport) -> None:
        if is_due(report.step, self.every):
            images.save_image(os.path.join(self.directory, f"step_{report.step:06d}.png"),
                              report.image)
