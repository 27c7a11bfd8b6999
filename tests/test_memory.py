"""The memory plan: what it counts exactly, whole image or the largest tiles that fit, and
what it says when nothing fits."""

import numpy as np
import pytest
import tensorflow as tf

from tf_style import TransferConfig, memory, vgg, weights
from tf_style.inputs import PreparedInputs
from tf_style.lbfgs import LBFGS
from tf_style.testing import synthetic_image
from tf_style.transfer import StyleTransfer, make_optimizer


def _config(**overrides):
    return TransferConfig(**{"content": "c.png", "style": "s.png", **overrides})


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam", "rmsprop"])
def test_optimizer_state_is_counted_as_the_variables_it_builds(optimizer):
    config = _config(optimizer=optimizer, lbfgs_history=4)
    image = tf.Variable(tf.zeros((1, 40, 60, 3)))
    transfer_optimizer = make_optimizer(optimizer, 1.0, lbfgs_history=4)
    transfer_optimizer.build([image])
    variables = transfer_optimizer.variables if not isinstance(transfer_optimizer, LBFGS) else (
        transfer_optimizer.trainable_variables + transfer_optimizer.non_trainable_variables)
    image_sized = sum(v.numpy().nbytes for v in variables if v.numpy().size >= 40 * 60 * 3)
    assert memory.optimizer_bytes(config, 40 * 60) == image_sized


def test_content_targets_are_counted_as_the_transfer_keeps_them():
    config = _config(content_layers=("block3_conv1", "block4_conv2"))
    model = vgg.build_vgg19(config.content_layers + config.style_layers)
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    content = synthetic_image(72, 96, seed=1).astype(np.float32)
    transfer = StyleTransfer.from_config(config, PreparedInputs.from_arrays(content, [content]), model)
    kept = sum(target.numpy().nbytes for target in transfer.content_targets.values())
    assert memory.content_target_bytes(config, 72, 96) == kept


def test_whole_image_when_it_fits_else_the_largest_tiles_that_do():
    config = _config(size=2048)
    shapes = [(1536, 2048)]
    allowance = memory.ESTIMATE_ALLOWANCE
    whole = memory.peak_bytes(config, 1536, 2048, None, 0.0)
    assert memory.plan_run(config, shapes, 0.0, limit_bytes=whole * allowance).tile_size_at(0) is None
    limit = whole * allowance - 1
    chosen = memory.plan_run(config, shapes, 0.0, limit_bytes=limit).scales[0]
    fitting = [tile for tile in memory.tile_candidates(1536, 2048)
               if memory.peak_bytes(config, 1536, 2048, tile, 0.0) * allowance <= limit]
    assert chosen.tile_size == max(fitting) and chosen.peak_bytes * allowance <= limit
    # Smaller tiles need less: the model is monotonic in the tile size.
    estimates = [memory.peak_bytes(config, 1536, 2048, tile, 0.0)
                 for tile in memory.tile_candidates(1536, 2048)]
    assert estimates == sorted(estimates, reverse=True)


def test_a_given_tile_size_is_kept_whatever_the_limit():
    plan = memory.plan_run(_config(size=512, tile_size=128), [(384, 512)], 0.0, limit_bytes=1.0)
    assert plan.tile_size_at(0) == 128


def test_when_nothing_fits_the_error_names_the_largest_size_that_does():
    config = _config(size=7680)
    limit = 6e9
    with pytest.raises(memory.MemoryPlanError) as error:
        memory.plan_run(config, [(4320, 7680)], 1e9, limit_bytes=limit)
    largest = memory.largest_fitting_size(config, 4320, 7680, 1e9, limit)
    assert f"--size {largest} fits" in str(error.value)

    def smallest_tiles_estimate(side):
        ratio = side / 7680
        height, width = round(4320 * ratio), round(7680 * ratio)
        tile = min(memory.tile_candidates(height, width))
        return memory.peak_bytes(config, height, width, tile, 1e9 * ratio ** 2)
    allowance = memory.ESTIMATE_ALLOWANCE
    assert (smallest_tiles_estimate(largest) * allowance <= limit
            < smallest_tiles_estimate(largest + 1) * allowance)


def test_tile_candidates_split_the_longest_side_evenly_in_multiples_of_16():
    candidates = memory.tile_candidates(2160, 3840)
    assert candidates[:3] == [1920, 1280, 960]
    assert all(size % 16 == 0 and size >= memory.MIN_TILE_SIZE for size in candidates)
    assert candidates == sorted(set(candidates), reverse=True)


def test_the_limit_is_the_smaller_of_machine_and_cgroup_less_the_margin(monkeypatch):
    monkeypatch.setattr(memory, "_read_meminfo", lambda: {"MemAvailable": 20e9})
    monkeypatch.setattr(memory, "_resident_bytes", lambda: 1e9)
    numbers = {"/sys/fs/cgroup/memory.max": int(12e9), "/sys/fs/cgroup/memory.current": int(4e9)}
    monkeypatch.setattr(memory, "_read_number", numbers.get)
    limit, source = memory.available_bytes()
    assert limit == pytest.approx((8e9 + 1e9) * 0.9) and source.startswith("cgroup")
    numbers["/sys/fs/cgroup/memory.max"] = None  # "max": no limit
    limit, source = memory.available_bytes()
    assert limit == pytest.approx((20e9 + 1e9) * 0.9) and source.startswith("available")
