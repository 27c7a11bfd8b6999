"""The memory plan: what it counts exactly, whole image or the largest tiles that fit, and
what it says when nothing fits."""

import numpy as np
import pytest
import tensorflow as tf

from tf_style import TransferConfig, machine_memory, memory, vgg, weights
from tf_style.inputs import PreparedInputs
from tf_style.lbfgs import LBFGS
from tf_style.testing import synthetic_image
from tf_style.optimizers import make_optimizer
from tf_style.transfer import StyleTransfer


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


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("tile_size", [None, 32])
def test_content_targets_are_counted_as_the_transfer_keeps_them(precision, tile_size):
    config = _config(content_layers=("block1_conv1", "block3_conv1", "block4_conv2"))
    model = vgg.build_vgg(config.content_layers + config.style_layers, precision=precision)
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    content = synthetic_image(72, 96, seed=1).astype(np.float32)
    transfer = StyleTransfer.from_config(config, PreparedInputs.from_arrays(content, [content]),
                                         model, tile_size=tile_size)
    kept = sum(target.numpy().nbytes for target in transfer.targets.content.values())
    assert memory.content_target_bytes(config, 72, 96, precision) == kept


@pytest.mark.parametrize("precision, model_name", [
    ("float32", "vgg19"), ("bfloat16", "vgg19"), ("float16", "vgg19"), ("bfloat16", "vgg16")])
def test_the_gpu_model_counts_the_activations_keras_makes(precision, model_name):
    """The layer-shape model against the shapes and dtypes of the model's own layers."""
    import keras
    config = _config(model=model_name)
    model = vgg.build_vgg(config.content_layers + config.style_layers, precision=precision,
                          model=model_name)
    layers = [layer for layer in model.layers if "conv" in layer.name or "pool" in layer.name]
    probe = keras.Model(model.input, [layer.output for layer in layers])
    total = sum(output.numpy().nbytes for output in probe(np.zeros((1, 64, 96, 3), np.float32)))
    assert memory.layer_values_per_pixel(config, precision) == total / (64 * 96)


def test_a_fake_2_gb_gpu_plans_3840_px_in_tiles_that_fit_it():
    from tf_style import devices
    config = _config(size=3840)
    gpu = devices.Device("gpu", "fake", machine_memory.FixedMemory(2e9, "a fake 2 GB GPU"), True, (8, 0))
    plan = memory.plan_run(config, [(2160, 3840)], 1e8, device=gpu, precision="bfloat16")
    scale = plan.scales[0]
    model = memory.cost_model("gpu", "bfloat16", config)
    assert scale.tile_size is not None and scale.peak_bytes * memory.ESTIMATE_ALLOWANCE <= 2e9
    larger = [size for size in memory.tile_candidates(2160, 3840) if size > scale.tile_size]
    assert larger and all(
        memory.peak_bytes(config, 2160, 3840, size, 1e8, model, "bfloat16")
        * memory.ESTIMATE_ALLOWANCE > 2e9 for size in larger)
    # The image-sized state (1 GB of L-BFGS history alone) stays in the machine's memory.
    assert scale.host_bytes > memory.optimizer_bytes(config, 2160 * 3840) > 1e9
    described = plan.describe(config)
    assert "device GPU fake" in described and "not measured on a GPU" in described
    assert "s/step not estimated" in described and "2.0 GB (a fake 2 GB GPU)" in described
    # On a CPU with 2 GB the same picture does not fit at all: its state needs the memory.
    with pytest.raises(memory.MemoryPlanError):
        memory.plan_run(config, [(2160, 3840)], 1e8, limit_bytes=2e9, precision="bfloat16")


def test_bfloat16_plans_need_less_than_float32():
    config = _config(size=3840)
    for kind in ("cpu", "gpu"):
        float32, bfloat16 = (memory.peak_bytes(config, 2160, 3840, None, 0.0,
                                               memory.cost_model(kind, precision, config), precision)
                             for precision in ("float32", "bfloat16"))
        assert bfloat16 < float32


def test_out_of_memory_falls_back_to_ever_smaller_tiles():
    assert memory.smaller_tile_size(96, 64, None) == 48
    assert memory.smaller_tile_size(96, 64, 64) == 48
    assert memory.smaller_tile_size(96, 64, 48) == 32
    assert memory.smaller_tile_size(96, 64, 32) is None
    assert memory.smaller_tile_size(2160, 3840, 1280) == 960


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
    limit, inputs = 6e9, 1e9
    with pytest.raises(memory.MemoryPlanError) as error:
        memory.plan_run(config, [(4320, 7680)], inputs, limit_bytes=limit)
    # By hand, from the float32 CPU model's constants. At --size s the picture is
    # s x round(s * 9/16); in the smallest tiles (128 px, with block5_conv1's halos of 80
    # and 96 px) the network sees at most 304 x 304 px at once. Every image pixel holds
    # per_image_pixel_bytes, L-BFGS's 10 pairs of 16-bit RGB rows and 3 float32 RGB
    # buffers (2*10*3*2 + 3*3*4 = 156 bytes), block4_conv2's float32 target (512 values
    # per 8x8 pixels: 32 bytes), the convergence rule's float16 RGB copy of the picture
    # (6 bytes) and its share of the 1 GB of inputs; 15% is kept to spare.
    model = memory.CPU_FLOAT32

    def estimate(side):
        pixels = side * round(side * 9 / 16)
        return (model.base_bytes + model.per_network_pixel_bytes * 304 ** 2
                + (model.per_image_pixel_bytes + 156 + 32 + 6) * pixels
                + inputs * (side / 7680) ** 2)

    largest = max(side for side in range(32, 7680) if 1.15 * estimate(side) <= limit)
    assert 4000 < largest < 4600  # the image-sized state, not the tile, sets it
    assert f"--size {largest} fits" in str(error.value)


def test_tile_candidates_split_the_longest_side_evenly_in_multiples_of_16():
    candidates = memory.tile_candidates(2160, 3840)
    assert candidates[:3] == [1920, 1280, 960]
    assert all(size % 16 == 0 and size >= memory.MIN_TILE_SIZE for size in candidates)
    assert candidates == sorted(set(candidates), reverse=True)


def test_the_limit_is_the_smaller_of_machine_and_cgroup_less_the_margin(monkeypatch):
    monkeypatch.setattr(machine_memory, "_read_meminfo", lambda: {"MemAvailable": 20e9})
    monkeypatch.setattr(machine_memory, "_resident_bytes", lambda: 1e9)
    numbers = {"/sys/fs/cgroup/memory.max": int(12e9), "/sys/fs/cgroup/memory.current": int(4e9)}
    monkeypatch.setattr(machine_memory, "_read_number", numbers.get)
    limit, source = machine_memory.available_bytes()
    assert limit == pytest.approx((8e9 + 1e9) * 0.9) and source.startswith("cgroup")
    numbers["/sys/fs/cgroup/memory.max"] = None  # "max": no limit
    limit, source = machine_memory.available_bytes()
    assert limit == pytest.approx((20e9 + 1e9) * 0.9) and source.startswith("available")
