"""Checkpoints of a run: the image, the optimizer's state, the step and the scale."""

from __future__ import annotations

from typing import Optional

import tensorflow as tf
from absl import logging

from tf_style.transfer import StyleTransfer

_SCALE_KEY = "scale/.ATTRIBUTES/VARIABLE_VALUE"


class Checkpoints:
    """A `tf.train.CheckpointManager` for one scale's `StyleTransfer`, and the step it last saved."""

    def __init__(self, directory: str, transfer: StyleTransfer, scale_index: int, max_to_keep: int):
        checkpoint = tf.train.Checkpoint(
            image=transfer.image, optimizer=transfer.optimizer, step=transfer.step,
            scale=tf.Variable(scale_index, dtype=tf.int64, name="scale"))
        self.manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep)
        self.transfer = transfer
        self.saved_step: Optional[int] = None

    def restore_latest(self) -> bool:
        """Restores the latest checkpoint, if there is one; says whether it did."""
        latest = self.manager.latest_checkpoint
        if latest is None:
            return False
        self.manager.checkpoint.restore(latest).assert_existing_objects_matched()
        self.saved_step = int(self.transfer.step)
        logging.info("Resumed from %s at step %d", latest, self.saved_step)
        return True

    def save(self) -> None:
        """Checkpoints the current step."""
        step = int(self.transfer.step)
        self.manager.save(checkpoint_number=step)
        self.saved_step = step

    def save_unless_saved(self) -> None:
        """Checkpoints the current step unless that was just done."""
        if self.saved_step != int(self.transfer.step):
            self.save()


def checkpointed_scale(directory: str) -> int:
    """The scale the latest checkpoint was taken at (0 for none): it fixes the image's shape."""
    latest = tf.train.latest_checkpoint(directory)
    if latest is None:
        return 0
    reader = tf.train.load_checkpoint(latest)
    return int(reader.get_tensor(_SCALE_KEY)) if reader.has_tensor(_SCALE_KEY) else 0
