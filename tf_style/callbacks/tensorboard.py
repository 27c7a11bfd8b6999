"""TensorBoard: losses, seconds per step, the image, and the graph of the train step."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tf_style.callbacks.callback import Callback, StepReport, is_due


class TensorBoard(Callback):
    """Writes `loss/<name>`, `perf/seconds_per_step` and `image` every `every` steps and at
    the end of each scale, and the train step's graph once.

    The image is shrunk to at most `max_image_side` px (area averaging): at print sizes a
    full one would add ~25 MB a summary to the events file; the files on disk are full size.
    """

    def __init__(self, log_dir: str, every: int, max_image_side: int = 1024):
        self.writer = tf.summary.create_file_writer(log_dir)
        self.every = every
        self.max_image_side = max_image_side
        self.wrote_graph = False

    def on_step_end(self, report: StepReport) -> None:
        if not self.wrote_graph:
            with self.writer.as_default():
                tf.summary.graph(report.transfer.step_graph())
            self.wrote_graph = True
        if not is_due(report.step, self.every, report.scale_end):
            return
        with self.writer.as_default(step=report.step):
            for name, value in report.losses.items():
                tf.summary.scalar(f"loss/{name}", value)
            tf.summary.scalar("perf/seconds_per_step", report.seconds_per_step)
            tf.summary.image("image", self._shrunk(report.image)[None] / 255.0)
        self.writer.flush()

    def _shrunk(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        scale = self.max_image_side / max(height, width)
        if scale >= 1:
            return image
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        return tf.image.resize(image, size, method="area").numpy()

    def on_run_end(self) -> None:
        self.writer.close()
