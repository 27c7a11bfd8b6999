"""TensorBoard: scalars and image every N steps and at a scale's end, and the graph once."""

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from fakes import FakeTransfer, report
from tf_style.callbacks import TensorBoard


def _events(log_dir):
    accumulator = event_accumulator.EventAccumulator(
        log_dir, size_guidance={event_accumulator.TENSORS: 0, event_accumulator.IMAGES: 0})
    accumulator.Reload()
    return accumulator


def test_writes_losses_timing_image_and_graph(tmp_path):
    image = np.random.default_rng(0).uniform(0, 255, (6, 8, 3)).astype(np.float32)
    transfer = FakeTransfer(image)
    callback = TensorBoard(str(tmp_path), every=4)
    for step in range(1, 8):
        callback.on_step_end(report(step, transfer, iters=9, scale_end=6, seconds=0.5 * step))
    callback.on_run_end()
    accumulator = _events(str(tmp_path))
    tags = set(accumulator.Tags()["tensors"])
    assert {"loss/total", "loss/style/block1_conv1", "perf/seconds_per_step", "image"} <= tags
    assert [event.step for event in accumulator.Tensors("loss/total")] == [4, 6]  # 6: scale end
    seconds = accumulator.Tensors("perf/seconds_per_step")
    assert tf.make_ndarray(seconds[0].tensor_proto) == 2.0
    assert accumulator.Tags()["graph"] is True
    assert any(node.op == "Relu" for node in accumulator.Graph().node)
    encoded = accumulator.Tensors("image")[-1].tensor_proto.string_val[2]
    decoded = tf.io.decode_image(encoded).numpy()
    np.testing.assert_allclose(decoded, np.rint(image), atol=1)


def test_a_large_image_is_shrunk_to_the_longest_side_by_area_averaging(tmp_path):
    # 4x4 blocks of one colour each: a 16x12 image at most 4 px long becomes the block means.
    blocks = np.random.default_rng(1).uniform(0, 255, (3, 4, 3)).astype(np.float32)
    image = np.repeat(np.repeat(blocks, 4, axis=0), 4, axis=1)
    callback = TensorBoard(str(tmp_path), every=1, max_image_side=4)
    callback.on_step_end(report(1, FakeTransfer(image), iters=1, scale_end=1))
    callback.on_run_end()
    encoded = _events(str(tmp_path)).Tensors("image")[-1].tensor_proto.string_val[2]
    decoded = tf.io.decode_image(encoded).numpy()
    assert decoded.shape == (3, 4, 3)
    np.testing.assert_allclose(decoded, np.rint(blocks), atol=1)
