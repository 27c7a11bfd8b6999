"""Checkpoints of a run: the image, the optimizer's state, the step and the scale."""

from __future__ import annotations

import glob
import os
import re
import shutil
from typing import Optional

import tensorflow as tf
from absl import logging

from tf_style.convergence import Convergence
from tf_style.errors import TransferError
from tf_style.transfer import StyleTransfer

_SCALE_KEY = "scale/.ATTRIBUTES/VARIABLE_VALUE"


class Checkpoints:
    """A `tf.train.CheckpointManager` for one scale's `StyleTransfer` and its `Convergence`,
    and the step it last saved."""

    def __init__(self, directory: str, transfer: StyleTransfer, scale_index: int, max_to_keep: int,
                 convergence: Convergence):
        state = dict(image=transfer.image, optimizer=transfer.optimizer, step=transfer.step,
                     scale=tf.Variable(scale_index, dtype=tf.int64, name="scale"),
                     convergence=convergence)
        if transfer.loss_scale is not None:  # float16
            state["loss_scale"] = transfer.loss_scale
        checkpoint = tf.train.Checkpoint(**state)
        self.manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep)
        # The same state without the change rule's kept picture, to resume a checkpoint
        # taken with the rule off (the same names, so the same keys).
        state["convergence"] = tf.train.Checkpoint(lowest=convergence.lowest,
                                                   steps=convergence.steps)
        self._without_change_state = tf.train.Checkpoint(**state)
        self.convergence = convergence
        self.transfer = transfer
        self.saved_step: Optional[int] = None

    def restore_latest(self) -> bool:
        """Restores the latest checkpoint, if there is one; says whether it did."""
        if self.manager.latest_checkpoint is None:
            return False
        self.saved_step = self.restore_saved()
        logging.info("Resumed from %s at step %d", self.manager.latest_checkpoint, self.saved_step)
        return True

    def restore_saved(self) -> int:
        """Goes back to the checkpoint this scale last saved or resumed from; returns its step."""
        latest = self.manager.latest_checkpoint
        checkpoint = self.manager.checkpoint
        kept_picture = all(tf.train.load_checkpoint(latest).has_tensor(
            f"convergence/{name}/.ATTRIBUTES/VARIABLE_VALUE")
            for name in self.convergence.change_variable_names())
        if not kept_picture:
            logging.info("%s was taken with the picture-change rule off: the rule judges from "
                         "its second judgement after resuming", latest)
            checkpoint = self._without_change_state
        try:
            checkpoint.restore(latest).assert_existing_objects_matched()
        # A variable of another shape or dtype, or (AssertionError) state the checkpoint lacks.
        except (tf.errors.InvalidArgumentError, ValueError, AssertionError) as error:
            raise TransferError(
                f"cannot resume from {latest}: it holds state this version of tf_style keeps "
                f"differently ({_cause(error)}); rerun with --overwrite to start over, or with "
                f"another --workdir") from None
        if not kept_picture:
            self.convergence.forget_kept_picture()
        return int(self.transfer.step)

    def save(self) -> None:
        """Checkpoints the current step; a failed write (a full disk, an I/O error) leaves the
        last complete checkpoint as it was, removes its own leftovers, and raises TransferError."""
        step = int(self.transfer.step)
        try:
            self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as error:
            for leftover in glob.glob(os.path.join(self.manager.directory, f"ckpt-{step}_temp*")):
                shutil.rmtree(leftover, ignore_errors=True)
            raise TransferError(
                f"cannot write a checkpoint in {self.manager.directory}: {_cause(error)}; the "
                f"last complete checkpoint is kept, rerun the same command to resume once this "
                f"is fixed") from None
        self.saved_step = step

    def save_unless_saved(self) -> None:
        """Checkpoints the current step unless that was just done."""
        if self.saved_step != int(self.transfer.step):
            self.save()


def _cause(error: BaseException) -> str:
    """The operating system's reason inside a TensorFlow error, e.g. 'No space left on device'."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    message = getattr(error, "message", None) or str(error)
    message = re.sub(r"\s*\[Op:\w+\]\s*$", "", message)
    return " ".join(message.rsplit(";", 1)[-1].split())[:200]


def checkpointed_scale(directory: str) -> int:
    """The scale the latest checkpoint was taken at (0 for none): it fixes the image's shape."""
    latest = tf.train.latest_checkpoint(directory)
    if latest is None:
        return 0
    reader = tf.train.load_checkpoint(latest)
    return int(reader.get_tensor(_SCALE_KEY)) if reader.has_tensor(_SCALE_KEY) else 0
