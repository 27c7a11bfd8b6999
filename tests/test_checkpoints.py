"""Checkpoints of a scale: what they hold comes back exactly, float16's loss scale too; a
checkpoint of another layout and a failed write are one clear error."""

import errno
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from test_transfer import _precision_transfer
from tf_style.checkpoints import Checkpoints, checkpointed_scale
from tf_style.convergence import Convergence
from tf_style.errors import TransferError


def _checkpoints(directory, transfer, scale_index=0):
    return Checkpoints(str(directory), transfer, scale_index, max_to_keep=2,
                       convergence=Convergence(0.01, 5))


@pytest.mark.slow
def test_a_restored_transfer_continues_as_the_saved_one_would(tmp_path):
    saved = _precision_transfer("float32")
    checkpoints = _checkpoints(tmp_path, saved, scale_index=2)
    for _ in range(2):
        saved.train_step()
    checkpoints.save()
    restored = _precision_transfer("float32")
    restoring = _checkpoints(tmp_path, restored, scale_index=2)
    assert restoring.restore_latest() and restoring.saved_step == 2
    assert checkpointed_scale(str(tmp_path)) == 2
    np.testing.assert_array_equal(restored.result(), saved.result())
    saved.train_step()
    restored.train_step()  # the L-BFGS history came back too
    np.testing.assert_array_equal(restored.result(), saved.result())


def test_float16_keeps_its_loss_scale(tmp_path):
    saved = _precision_transfer("float16")
    checkpoints = _checkpoints(tmp_path, saved)
    saved.loss_scale.scale.assign(2.0 ** 40)  # overflows: the step halves it until finite
    saved.train_step()
    scale = float(saved.loss_scale.scale)
    assert scale < 2.0 ** 40
    checkpoints.save()
    restored = _precision_transfer("float16")
    _checkpoints(tmp_path, restored).restore_latest()
    assert float(restored.loss_scale.scale) == scale and int(restored.step) == 1


def test_save_unless_saved_writes_a_step_once(tmp_path):
    transfer = _precision_transfer("float32")
    checkpoints = _checkpoints(tmp_path, transfer)
    transfer.train_step()
    checkpoints.save_unless_saved()
    checkpoints.save_unless_saved()
    assert tf.train.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths == [
        str(tmp_path / "ckpt-1")]


def test_no_checkpoint_is_scale_0_and_nothing_to_restore(tmp_path):
    assert checkpointed_scale(str(tmp_path)) == 0
    assert not _checkpoints(tmp_path, _precision_transfer("float32")).restore_latest()


def test_a_checkpoint_of_another_layout_is_refused_with_one_line(tmp_path):
    # What an older tf_style might have written: the image under another name.
    other = tf.train.Checkpoint(picture=tf.Variable(np.zeros((1, 48, 64, 3), np.float32)))
    tf.train.CheckpointManager(other, str(tmp_path), max_to_keep=1).save(checkpoint_number=1)
    restoring = _checkpoints(tmp_path, _precision_transfer("float32"))
    with pytest.raises(TransferError, match="cannot resume from .*--overwrite"):
        restoring.restore_latest()


def test_a_failed_write_keeps_the_last_checkpoint_and_leaves_nothing_behind(tmp_path,
                                                                              monkeypatch):
    transfer = _precision_transfer("float32")
    checkpoints = _checkpoints(tmp_path, transfer)
    transfer.train_step()
    checkpoints.save()
    transfer.train_step()

    def full_disk(checkpoint_number):
        os.makedirs(tmp_path / f"ckpt-{checkpoint_number}_temp" / "part")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.manager, "save", full_disk)
    with pytest.raises(TransferError, match="No space left on device; the last complete"):
        checkpoints.save()
    assert not glob.glob(str(tmp_path / "*_temp*"))
    assert checkpoints.saved_step == 1
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-1")
