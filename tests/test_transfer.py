"""The optimisation step: what it optimises, what it computes, and what it leaves alone."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tf_style.testing import synthetic_image
from tf_style import losses, vgg, weights
from tf_style.config import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, TransferConfig
from tf_style.inputs import PreparedInputs
from tf_style.transfer import StyleTransfer


@functools.lru_cache(maxsize=None)
def feature_model():
    """VGG19 to block5_conv1 with seeded random weights, built once for this module."""
    model = vgg.build_vgg(DEFAULT_CONTENT_LAYERS + DEFAULT_STYLE_LAYERS)
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    return model


def make_transfer(initial="content", lr=5.0, optimizer="adam", size=48):
    content = synthetic_image(size, size, seed=1).astype(np.float32)
    style = synthetic_image(size + 16, size + 16, seed=2).astype(np.float32)
    start = {"content": content,
             "noise": np.random.default_rng(0).uniform(0, 255, content.shape).astype(np.float32),
             }[initial]
    config = TransferConfig(content="content.png", style="style.png", optimizer=optimizer, lr=lr)
    inputs = PreparedInputs.from_arrays(content, [style], initial=start)
    return StyleTransfer.from_config(config, inputs, feature_model()), content, style


def test_losses_combine_as_documented():
    transfer, content, style = make_transfer()
    result = {k: float(v) for k, v in transfer.compute_losses(tf.constant(content[None])).items()}
    assert result["content"] == pytest.approx(0.0, abs=1e-7)  # the image is the content
    expected_style = sum(0.2 * result[f"style/{name}"] for name in DEFAULT_STYLE_LAYERS)
    assert result["style"] == pytest.approx(expected_style, rel=1e-5)
    assert result["tv"] == pytest.approx(float(losses.total_variation_loss(content[None])), rel=1e-5)
    assert result["total"] == pytest.approx(result["content"] + 1e3 * result["style"]
                                            + 1e-2 * result["tv"], rel=1e-5)
    # The style target is the style image's mean and Gram, F^T F / M, by NumPy.
    style_features = transfer.network_outputs(tf.constant(style[None]))
    for name in DEFAULT_STYLE_LAYERS:
        flat = style_features[name].numpy()[0].reshape(-1, style_features[name].shape[-1])
        target = transfer.targets.style_regions[0].targets[name]
        np.testing.assert_allclose(target.second_moment[0], flat.T @ flat / len(flat),
                                   rtol=1e-4, atol=1e-6 * np.abs(flat).max() ** 2)
        np.testing.assert_allclose(target.mean[0], flat.mean(axis=0), rtol=1e-4,
                                   atol=1e-6 * np.abs(flat).max())


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_steps_reduce_the_loss(optimizer):
    lr = {"adam": 5.0, "rmsprop": 2.0}[optimizer]
    transfer, _, _ = make_transfer(initial="noise", lr=lr, optimizer=optimizer)
    first = float(transfer.train_step()["total"])
    for _ in range(15):
        last = float(transfer.train_step()["total"])
    assert last < 0.7 * first
    assert int(transfer.step) == 16


def test_adam_moves_pixels_by_its_learning_rate_whatever_the_loss_scale():
    # Adam's first step is lr * g / (|g| + epsilon): with epsilon far below the gradients
    # of the normalised losses, every pixel with a gradient moves by about lr. With the
    # TensorFlow tutorial's epsilon of 0.1 it would move by lr * |g| / 0.1, a tiny fraction.
    transfer, content, _ = make_transfer(lr=5.0)
    with tf.GradientTape() as tape:
        total = transfer.compute_losses(transfer.image)["total"]
    gradient = np.abs(tape.gradient(total, transfer.image).numpy())
    assert np.median(gradient) < 1e-2  # the normalised losses' gradients are small
    transfer.train_step()
    moved = np.abs(transfer.result() - content)
    inside = (content > 5) & (content < 250)  # away from clipping
    assert np.median(moved[inside]) == pytest.approx(5.0, rel=0.05)


def test_pixels_stay_in_range_even_with_a_huge_learning_rate():
    transfer, _, _ = make_transfer(lr=500.0)
    for _ in range(3):
        transfer.train_step()
    image = transfer.result()
    assert image.min() >= 0.0 and image.max() <= 255.0
    assert image.min() == 0.0 or image.max() == 255.0  # it really was pushed out and clipped


def test_train_step_runs_the_network_once_forward_and_targets_are_computed_outside_it():
    """Targets are computed once outside the step: the graph has one forward pass."""
    transfer, _, _ = make_transfer()
    graph = transfer.step_graph()
    op_types = [op.type for op in graph.get_operations()]
    conv_layers = len(vgg.conv_layers(transfer.feature_model))
    assert op_types.count("Conv2D") == conv_layers
    assert "Conv2DBackpropInput" in op_types  # and it differentiates through them


def _transfer_with(style_images, style_layers=DEFAULT_STYLE_LAYERS, width=48, style_blend=None,
                   content_masks=None):
    content = synthetic_image(48, width, seed=1).astype(np.float32)
    config = TransferConfig(
        content="content.png", style=tuple(f"style{i}.png" for i in range(len(style_images))),
        style_layers=tuple(style_layers), optimizer="adam", style_blend=style_blend,
        content_mask=tuple(f"mask{i}.png" for i in range(len(content_masks or ()))))
    inputs = PreparedInputs.from_arrays(content, style_images, content_masks=content_masks)
    return StyleTransfer.from_config(config, inputs, feature_model()), content


def test_blended_style_target_is_the_weighted_sum_of_means_and_grams():
    first = synthetic_image(48, 48, seed=2).astype(np.float32)
    second = synthetic_image(64, 40, seed=3).astype(np.float32)
    blended, _ = _transfer_with([first, second], style_blend=(0.7, 0.3))
    alone = [_transfer_with([image])[0].targets.style_regions[0].targets for image in (first, second)]
    for name in DEFAULT_STYLE_LAYERS:
        for moment in ("mean", "second_moment"):
            expected = (0.7 * getattr(alone[0][name], moment).numpy()
                        + 0.3 * getattr(alone[1][name], moment).numpy())
            np.testing.assert_allclose(getattr(blended.targets.style_regions[0].targets[name], moment),
                                       expected, rtol=1e-5)


def test_content_mask_keeps_the_style_inside_its_region():
    style = np.zeros((48, 48, 3), np.float32)
    style[..., 2] = 255.0  # pure blue: a style that pulls colour hard
    left = np.zeros((48, 96), np.float32)
    left[:, :32] = 1.0
    # Shallow layers see a few pixels; deep ones would reach across the whole small image.
    shallow = ("block1_conv1", "block2_conv1")
    masked, content = _transfer_with([style], style_layers=shallow, width=96, content_masks=[left])
    unmasked, _ = _transfer_with([style], style_layers=shallow, width=96)
    for _ in range(12):
        masked.train_step()
        unmasked.train_step()
    masked_change = np.abs(masked.result() - content).mean(axis=(0, 2))
    unmasked_change = np.abs(unmasked.result() - content).mean(axis=(0, 2))
    assert masked_change[:24].mean() > 4 * masked_change[-32:].mean()
    assert unmasked_change[-32:].mean() > 4 * masked_change[-32:].mean()


@pytest.mark.slow
def test_lbfgs_descends_monotonically_and_beats_adam_in_the_same_steps():
    lbfgs, _, _ = make_transfer(initial="noise", lr=1.0, optimizer="lbfgs")
    adam, _, _ = make_transfer(initial="noise", lr=5.0, optimizer="adam")
    accepted = []
    for _ in range(20):
        lbfgs.train_step()
        adam_losses = adam.train_step()
        accepted.append(float(lbfgs.optimizer.accepted_loss))
    assert all(later <= earlier for earlier, later in zip(accepted, accepted[1:]))
    assert accepted[-1] < float(adam_losses["total"])


def _video_transfer(content, style, temporal_weight=50.0, **settings):
    config = TransferConfig(content="clip.mp4", style="style.png", optimizer="lbfgs",
                            temporal_weight=temporal_weight, **settings)
    inputs = PreparedInputs.from_arrays(content, [style])
    return StyleTransfer.from_config(config, inputs, feature_model())


def test_next_frame_equals_a_fresh_transfer_of_that_frame_plus_the_temporal_term():
    first = synthetic_image(48, 48, seed=1).astype(np.float32)
    second = synthetic_image(48, 48, seed=5).astype(np.float32)
    style = synthetic_image(64, 64, seed=2).astype(np.float32)
    # With the Laplacian term too, which compares with each frame's own content.
    moved = _video_transfer(first, style, laplacian_weight=1.0)
    moved.train_step()
    rng = np.random.default_rng(0)
    warped = rng.uniform(0, 255, first.shape).astype(np.float32)
    reliable = (rng.uniform(size=first.shape[:2]) > 0.3).astype(np.float32)
    start = rng.uniform(0, 255, first.shape).astype(np.float32)
    moved.next_frame(second, start, warped, reliable, learning_rate=1.0)
    fresh = _video_transfer(second, style, laplacian_weight=1.0)  # no temporal term yet

    probe = tf.constant(start[None])
    got = {k: float(v) for k, v in moved.compute_losses(probe).items()}
    want = {k: float(v) for k, v in fresh.compute_losses(probe).items()}
    for name in ("content", "style", "tv", "laplacian"):
        assert got[name] == pytest.approx(want[name], rel=1e-5)
    assert want["temporal"] == 0.0 and got["laplacian"] > 0
    # Ruder et al. eq. 5 in NumPy: mean over pixels and channels of c (x - w)^2, 0-1 units.
    temporal = np.mean(reliable[..., None] * np.square((start - warped) / 255.0))
    assert got["temporal"] == pytest.approx(temporal, rel=1e-5)
    assert got["total"] == pytest.approx(want["total"] + 50.0 * temporal, rel=1e-5)
    np.testing.assert_array_equal(moved.result(), start)  # it starts where it was told


def test_frames_reuse_one_compiled_step():
    content = synthetic_image(48, 48, seed=1).astype(np.float32)
    style = synthetic_image(64, 64, seed=2).astype(np.float32)
    transfer = _video_transfer(content, style)
    transfer.train_step()
    for seed in (5, 6):
        frame = synthetic_image(48, 48, seed=seed).astype(np.float32)
        transfer.next_frame(frame, frame, frame, np.ones((48, 48), np.float32))
        transfer.train_step()
    assert transfer._step_once.experimental_get_tracing_count() == 1


# Precision: the network in bfloat16 or float16, everything else in float32.

@functools.lru_cache(maxsize=None)
def precision_model(precision):
    model = vgg.build_vgg(DEFAULT_CONTENT_LAYERS + DEFAULT_STYLE_LAYERS, precision=precision)
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    return model


def _precision_transfer(precision, seed=0, optimizer="lbfgs"):
    content = synthetic_image(48, 64, seed=1 + seed).astype(np.float32)
    style = synthetic_image(64, 64, seed=2 + seed).astype(np.float32)
    start = np.clip(content + np.random.default_rng(seed).normal(0, 20, content.shape), 0, 255)
    config = TransferConfig(content="c.png", style="s.png", optimizer=optimizer)
    inputs = PreparedInputs.from_arrays(content, [style], initial=start.astype(np.float32))
    return StyleTransfer.from_config(config, inputs, precision_model(precision))


def _loss_and_gradient(transfer):
    with tf.GradientTape() as tape:
        step_losses = transfer.compute_losses(transfer.image)
    return float(step_losses["total"]), tape.gradient(step_losses["total"], transfer.image).numpy()


# Against float32 on four 48x64 images (default layers, start 20 grey levels of noise from
# the content): the total loss differed by at most 3.2e-3 (relative) in bfloat16 and
# 1.7e-4 in float16, the gradient by 3.5e-2 and 1.4e-2. Allowed: about twice that.
PRECISION_TOLERANCE = {"bfloat16": (7e-3, 7e-2), "float16": (4e-4, 3e-2)}


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_half_precision_loss_and_gradient_match_float32(precision):
    loss_tolerance, gradient_tolerance = PRECISION_TOLERANCE[precision]
    for seed in range(2):
        reference_loss, reference_gradient = _loss_and_gradient(_precision_transfer("float32", seed))
        loss, gradient = _loss_and_gradient(_precision_transfer(precision, seed))
        assert abs(loss / reference_loss - 1) < loss_tolerance
        assert (np.linalg.norm(gradient - reference_gradient) / np.linalg.norm(reference_gradient)
                < gradient_tolerance)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_half_precision_keeps_statistics_image_and_optimizer_state_in_float32(precision):
    transfer = _precision_transfer(precision)
    model = transfer.feature_model
    assert model.get_layer("block1_conv1").compute_dtype == "float32"  # sees pixels exactly
    assert model.get_layer("block4_conv2").compute_dtype == precision
    assert transfer.targets.content["block4_conv2"].dtype == precision  # all they hold
    assert all(value.dtype == tf.float32
               for value in transfer.compute_losses(transfer.image).values())
    assert all(target.mean.dtype == tf.float32 and target.second_moment.dtype == tf.float32
               for target in transfer.targets.style_regions[0].targets.values())
    assert transfer.image.dtype == tf.float32
    floats = [v for v in transfer.optimizer.variables if v.dtype.is_floating]
    assert floats and all(v.dtype == tf.float32 for v in floats)
    assert all(value.dtype == tf.float32 for value in transfer.train_step().values())


@pytest.mark.slow
def test_float16_needs_the_loss_scaled():
    """float16 keeps nothing below 2^-24 (6e-8). With the loss weights at 1e-4 of the defaults
    the backward pass's gradients lie under that, so unscaled they all flush to zero; scaled
    by 2^15 they are representable and follow float32's (1.1% apart, measured at 64 px)."""
    content = synthetic_image(64, 64, seed=1).astype(np.float32)
    start = np.clip(content + np.random.default_rng(0).normal(0, 20, content.shape), 0, 255)
    inputs = PreparedInputs.from_arrays(content, [synthetic_image(64, 64, seed=2)],
                                        initial=start.astype(np.float32))
    config = TransferConfig(content="c.png", style="s.png", content_weight=1e-4,
                            style_weight=0.1, tv_weight=0.0)
    _, reference = _loss_and_gradient(
        StyleTransfer.from_config(config, inputs, precision_model("float32")))
    transfer = StyleTransfer.from_config(config, inputs, precision_model("float16"))
    assert float(transfer.loss_scale.scale) == 2.0 ** 15
    errors = []
    for scale in (1.0, float(transfer.loss_scale.scale)):
        with tf.GradientTape() as tape:
            total = transfer.compute_losses(transfer.image)["total"] * scale
        gradient = tape.gradient(total, transfer.image).numpy() / scale
        errors.append(np.linalg.norm(gradient - reference) / np.linalg.norm(reference))
    unscaled, scaled = errors
    assert unscaled > 0.9  # underflowed: (almost) nothing of the gradient is left
    assert scaled < PRECISION_TOLERANCE["float16"][1]


@pytest.mark.slow
def test_float16_steps_follow_float32():
    """float16 has 3 more mantissa bits than bfloat16, so three L-BFGS steps in it land
    nearer float32's than bfloat16's do (measured: 0.52 against 1.16 grey levels, of 9.6
    moved), and near against the distance moved. Both hold whatever the CPU's kernels."""
    transfer = _precision_transfer("float16")
    coarser = _precision_transfer("bfloat16")
    assert coarser.loss_scale is None  # float32's range
    reference = _precision_transfer("float32")
    start = reference.result()
    for _ in range(3):
        transfer.train_step()
        coarser.train_step()
        reference.train_step()
    assert int(transfer.step) == 3
    moved = np.abs(reference.result() - start).mean()
    float16_error = np.abs(transfer.result() - reference.result()).mean()
    bfloat16_error = np.abs(coarser.result() - reference.result()).mean()
    assert float16_error < bfloat16_error
    assert float16_error < 0.1 * moved


@pytest.mark.slow
def test_a_non_finite_float16_gradient_halves_the_scale_and_retakes_the_step():
    transfer = _precision_transfer("float16")
    reference = _precision_transfer("float32")
    transfer.loss_scale.scale.assign(2.0 ** 40)  # scaled gradients overflow float16 (65504)
    transfer.train_step()
    reference.train_step()
    assert int(transfer.step) == 1  # one step, taken at a smaller scale
    assert float(transfer.loss_scale.scale) < 2.0 ** 40
    assert np.abs(transfer.result() - reference.result()).mean() < 0.5


def test_a_gradient_non_finite_at_every_scale_reports_a_nan_loss_and_takes_no_step():
    transfer = _precision_transfer("float16")
    before = transfer.result()
    transfer.image.assign(tf.fill(transfer.image.shape, np.inf))
    step_losses = transfer.train_step()
    assert np.isnan(float(step_losses["total"])) and int(transfer.step) == 0
    transfer.image.assign(before[None])


def test_the_loss_scale_doubles_after_a_run_of_finite_steps():
    from tf_style import loss_scale
    scale = loss_scale.DynamicLossScale()
    scale.finite_steps.assign(loss_scale.GROWTH_STEPS - 2)
    scale.update(tf.constant(True))
    assert float(scale.scale) == loss_scale.INITIAL_SCALE
    scale.update(tf.constant(True))
    assert float(scale.scale) == 2 * loss_scale.INITIAL_SCALE and int(scale.finite_steps) == 0
    scale.update(tf.constant(False))
    assert float(scale.scale) == loss_scale.INITIAL_SCALE


def test_lbfgs_ends_on_the_last_point_it_accepted_when_its_trial_is_worse():
    transfer = _precision_transfer("float32")
    for _ in range(3):
        transfer.train_step()

    def loss(image):
        return float(transfer.compute_losses(tf.constant(image[None]))["total"])

    accepted = tf.reshape(transfer.optimizer.accepted_position, transfer.image.shape).numpy()[0]
    trial = transfer.result()
    expected = trial if loss(trial) <= float(transfer.optimizer.accepted_loss) else accepted
    np.testing.assert_array_equal(transfer.best_result(), expected)
    worse = np.clip(accepted + np.random.default_rng(1).normal(0, 40, accepted.shape), 0, 255)
    worse = worse.astype(np.float32)
    transfer.image.assign(worse[None])
    assert loss(worse) > float(transfer.optimizer.accepted_loss)
    np.testing.assert_array_equal(transfer.best_result(), accepted)
    np.testing.assert_array_equal(transfer.result(), worse)  # the state is untouched


def test_the_tiled_losses_alone_equal_the_whole_images():
    transfer = _precision_transfer("float32")
    tiled = StyleTransfer.from_config(TransferConfig(content="c.png", style="s.png", tile_size=32),
                                      PreparedInputs.from_arrays(
                                          synthetic_image(48, 64, seed=1),
                                          [synthetic_image(64, 64, seed=2)],
                                          initial=transfer.result()), precision_model("float32"))
    whole = transfer.compute_losses(transfer.image)
    alone = tiled.evaluator.losses(tf.convert_to_tensor(tiled.image))
    for name, value in whole.items():
        assert float(alone[name]) == pytest.approx(float(value), rel=1e-4), name


def test_a_seamless_transfer_refuses_a_picture_whose_wrapped_side_breaks_the_pools_period():
    """A side that wraps must be a multiple of 16 (the four pools); `prepare_inputs` makes
    it so. A side that does not wrap may be anything, and so may the painting's."""
    content = synthetic_image(48, 72, seed=1).astype(np.float32)  # 72 px wide: not a multiple
    style = synthetic_image(50, 70, seed=2).astype(np.float32)
    inputs = PreparedInputs.from_arrays(content, [style])
    config = TransferConfig(content="content.png", style="style.png", seamless="y")
    assert StyleTransfer.from_config(config, inputs, feature_model()).crops.wrap == (True, False)
    with pytest.raises(ValueError, match="Received: 72x48 with wrap"):
        StyleTransfer.from_config(TransferConfig(content="content.png", style="style.png",
                                                 seamless="x"), inputs, feature_model())
