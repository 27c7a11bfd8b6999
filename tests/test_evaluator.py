"""The tiled loss and gradient against the whole-image ones (the reference) at the same
precision: to 1e-4 relative in float32; in bfloat16 and float16 the losses agree as well
(each feature sees the same pixels), the gradient to that precision's rounding."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tf_style import objective, tile_geometry, vgg, weights
from tf_style.evaluator import Crops, Evaluator
from tf_style.config import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, TransferConfig
from tf_style.inputs import PreparedInputs
from tf_style.testing import synthetic_image
from tf_style.transfer import StyleTransfer

pytestmark = pytest.mark.slow  # tiled steps against whole ones


# Tiled against whole, relative gradient difference. Measured worst over three shapes
# (176x208 in 64 px tiles, 128x160 in 48, 192x192 in 96, default layers): float32 6.5e-7,
# bfloat16 2.3e-3 (0.6 of its rounding, 2^-8), float16 1.4e-3; the losses within 2e-7 in
# all three. Allowed: about twice the measurement.
GRADIENT_TOLERANCE = {"float32": 1e-4, "bfloat16": 5e-3, "float16": 3e-3}


@functools.lru_cache(maxsize=None)
def _model(layers, precision="float32", model_name="vgg19"):
    model = vgg.build_vgg(layers, precision=precision, model=model_name)
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    return model


def _whole(evaluator, image, scale):
    """The whole image's losses and gradient, scaled as the step scales it (float16), from
    one forward pass under a tape."""
    with tf.GradientTape() as tape:
        tape.watch(image)
        step_losses = evaluator.losses(image)
        total = step_losses["total"] if scale is None else step_losses["total"] * scale
    return step_losses, tape.gradient(total, image)


def _assert_tiled_equals_whole(transfer, image, tile_size, minimum_tiles, precision="float32",
                               objective_=None):
    objective_ = objective_ or transfer.objective
    wrap = transfer.crops.wrap
    whole = Evaluator(Crops(transfer.feature_model, wrap=wrap), objective_)
    tiled = Evaluator(Crops(transfer.feature_model, tile_size, wrap=wrap), objective_)
    assert len(tiled.tiles(image.shape[1], image.shape[2])) >= minimum_tiles
    scale = None if transfer.loss_scale is None else transfer.loss_scale.scale
    whole_losses, whole_gradient = _whole(whole, image, scale)
    tiled_losses, tiled_gradient = tiled.losses_and_gradient(image, scale)
    for name, value in whole_losses.items():
        np.testing.assert_allclose(float(tiled_losses[name]), float(value), rtol=1e-4, err_msg=name)
    difference = np.linalg.norm(tiled_gradient - whole_gradient) / np.linalg.norm(whole_gradient)
    assert difference < GRADIENT_TOLERANCE[precision]


def _transfer(height, width, content_layers=DEFAULT_CONTENT_LAYERS,
              style_layers=DEFAULT_STYLE_LAYERS, styles=1, masks=False, precision="float32",
              model="vgg19", **settings):
    content = synthetic_image(height, width, seed=1).astype(np.float32)
    style_images = [synthetic_image(64 + 16 * index, 80, seed=2 + index).astype(np.float32)
                    for index in range(styles)]
    content_masks = None
    if masks:
        left = np.zeros((height, width), np.float32)
        left[:, : width // 2] = 1.0
        content_masks = [left, 1.0 - left][:styles]
    config = TransferConfig(
        content="c.png", style=tuple(f"s{i}.png" for i in range(styles)),
        content_layers=tuple(content_layers), style_layers=tuple(style_layers),
        content_mask=tuple(f"m{i}.png" for i in range(styles)) if masks else (), model=model,
        **settings)
    inputs = PreparedInputs.from_arrays(content, style_images, content_masks=content_masks)
    transfer = StyleTransfer.from_config(
        config, inputs, _model(tuple(content_layers) + tuple(style_layers), precision, model))
    image = tf.constant(np.random.default_rng(3).uniform(0, 255, (1, height, width, 3)),
                        tf.float32)
    return transfer, image


def test_halo_covers_the_receptive_field_and_is_aligned():
    assert tile_geometry.halo_sides(["block5_conv1"]) == (70, 85)
    assert tile_geometry.halo_sides(["block1_conv1"]) == (1, 1)
    assert tile_geometry.halo_for(DEFAULT_STYLE_LAYERS + DEFAULT_CONTENT_LAYERS) == (80, 96)
    assert tile_geometry.halo_for(["block2_conv1"]) == (16, 16)
    # VGG16 has one conv fewer in blocks 3 and 4: 4 + 8 px less on each side by block5.
    assert tile_geometry.halo_sides(["block5_conv1"], "vgg16") == (58, 73)


def test_vgg16s_smaller_halo_still_tiles_exactly():
    transfer, image = _transfer(144, 176, model="vgg16")
    tiles = Crops(transfer.feature_model, 64).tiles(144, 176, transfer.objective.layers)
    top_left = tiles[0]
    assert top_left.crop[1] - top_left.inner[1] == 80  # the halo after: not VGG19's 96
    _assert_tiled_equals_whole(transfer, image, tile_size=64, minimum_tiles=4)


def test_tiles_cover_the_image_once():
    tiles = tile_geometry.tiles_covering(100, 130, 48, (16, 32))
    covered = np.zeros((100, 130), int)
    for tile in tiles:
        top, bottom, left, right = tile.inner
        covered[top:bottom, left:right] += 1
        assert top % 16 == 0 and left % 16 == 0 and tile.crop[0] % 16 == 0
    assert (covered == 1).all() and len(tiles) == 9


def test_wrapped_tiles_run_on_past_the_edges_they_wrap():
    tiles = tile_geometry.tiles_covering(96, 128, 48, (16, 32), wrap=(False, True))
    covered = np.zeros((96, 128), int)
    for tile in tiles:
        top, bottom, left, right = tile.inner
        covered[top:bottom, left:right] += 1
        # Every crop has its full halo across the columns, none past the top or bottom.
        assert (tile.crop[2], tile.crop[3]) == (left - 16, right + 32)
        assert tile.crop[0] == max(0, top - 16) and tile.crop[1] == min(96, bottom + 32)
    assert (covered == 1).all()


@pytest.mark.parametrize("seamless", ["x", "y", "both"])
def test_seamless_tiles_equal_the_seamless_whole_image(seamless):
    """Edge tiles take their halo from the opposite edge, and their gradient there goes
    back to it: the same loss and gradient as the wrapped network on the whole image,
    with the smoothness and Laplacian terms wrapping too."""
    transfer, image = _transfer(160, 208, seamless=seamless, laplacian_weight=1.0)
    assert transfer.crops.wrap == (seamless in ("y", "both"), seamless in ("x", "both"))
    _assert_tiled_equals_whole(transfer, image, tile_size=96, minimum_tiles=4)


def test_a_seamless_tile_wider_than_the_picture_wraps_onto_itself():
    """One tile with its halos is wider than the picture: some pixels are in the crop
    twice, and both copies' gradients must be added."""
    transfer, image = _transfer(64, 96, seamless="both")
    tiles = Crops(transfer.feature_model, 96, wrap=(True, True)).tiles(
        64, 96, transfer.objective.layers, wrapped=True)
    assert tiles[0].crop[3] - tiles[0].crop[2] > 96
    _assert_tiled_equals_whole(transfer, image, tile_size=96, minimum_tiles=1)


def test_shallow_layers_with_small_tiles():
    transfer, image = _transfer(56, 72, content_layers=("block2_conv2",),
                                style_layers=("block1_conv1", "block2_conv1"))
    _assert_tiled_equals_whole(transfer, image, tile_size=16, minimum_tiles=12)


@pytest.mark.parametrize("precision", ["float32", "bfloat16", "float16"])
def test_default_layers_on_a_200_px_image_in_4_tiles_or_more(precision):
    transfer, image = _transfer(160, 208, precision=precision)
    _assert_tiled_equals_whole(transfer, image, tile_size=96, minimum_tiles=4,
                               precision=precision)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_with_masks_at_half_precision(precision):
    transfer, image = _transfer(64, 96, content_layers=("block3_conv2",),
                                style_layers=("block1_conv1", "block2_conv1", "block3_conv1"),
                                styles=2, masks=True, precision=precision)
    _assert_tiled_equals_whole(transfer, image, tile_size=32, minimum_tiles=6,
                               precision=precision)


@pytest.mark.parametrize("style_loss", ["gram", "w2"])
def test_with_masks_and_two_styles(style_loss):
    transfer, image = _transfer(64, 96, content_layers=("block3_conv2",),
                                style_layers=("block1_conv1", "block2_conv1", "block3_conv1"),
                                styles=2, masks=True, style_loss=style_loss)
    _assert_tiled_equals_whole(transfer, image, tile_size=32, minimum_tiles=6)


@pytest.mark.parametrize("style_loss", ["gram", "w2"])
def test_two_styles_blended_with_the_laplacian_term(style_loss):
    transfer, image = _transfer(64, 96, content_layers=("block3_conv2",),
                                style_layers=("block1_conv1", "block3_conv1"), styles=2,
                                style_loss=style_loss, laplacian_weight=10.0)
    assert "laplacian" in transfer.objective.names
    _assert_tiled_equals_whole(transfer, image, tile_size=32, minimum_tiles=6)


def test_wasserstein_with_default_layers_in_4_tiles_or_more():
    transfer, image = _transfer(160, 208, style_loss="w2")
    _assert_tiled_equals_whole(transfer, image, tile_size=96, minimum_tiles=4)


class _MeanActivation(objective.FeatureTerm):
    """A term the objective has never seen: each channel's mean towards a constant."""

    name = "mean"
    layers = ("block2_conv1",)

    def statistics(self, features, maps):
        value = tf.cast(features["block2_conv1"], tf.float32)
        return {"sum": tf.reduce_sum(value, axis=[1, 2]),
                "positions": tf.cast(tf.shape(value)[1] * tf.shape(value)[2], tf.float32)}

    def loss(self, sums):
        return tf.reduce_sum(tf.square(sums["sum"] / sums["positions"] - 3.0)), {}


def test_a_new_term_is_tiled_exactly_with_no_gradient_of_its_own():
    transfer, image = _transfer(64, 96, content_layers=("block3_conv2",),
                                style_layers=("block1_conv1", "block2_conv1"))
    old = transfer.objective
    extended = objective.Objective([*old.feature_terms, (0.5, _MeanActivation())],
                                   old.image_terms)
    _assert_tiled_equals_whole(transfer, image, tile_size=32, minimum_tiles=6,
                               objective_=extended)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_five_tiled_steps_land_where_five_whole_steps_do(optimizer):
    content = synthetic_image(96, 112, seed=1).astype(np.float32)
    style = synthetic_image(80, 80, seed=2).astype(np.float32)
    layers = dict(content_layers=("block3_conv2",),
                  style_layers=("block1_conv1", "block2_conv1", "block3_conv1"))
    results = []
    for tile_size in (None, 48):
        config = TransferConfig(content="c.png", style="s.png", optimizer=optimizer,
                                tile_size=tile_size, **layers)
        transfer = StyleTransfer.from_config(
            config, PreparedInputs.from_arrays(content, [style]),
            _model(layers["content_layers"] + layers["style_layers"]))
        for _ in range(5):
            transfer.train_step()
        results.append(transfer.result())
    whole, tiled = results
    assert np.abs(whole - content).mean() > 2  # the steps moved the image
    assert np.abs(tiled - whole).max() < 0.5


def test_a_tiled_run_resumes_an_untiled_one(tmp_path):
    """Tiling is not part of the run's record: a run may change it and continue."""
    from tf_style import run
    from tf_style.testing import write_image_pair
    content, style = write_image_pair(str(tmp_path))
    settings = dict(content=content, style=style, weights="random", size=64, progress=False,
                    content_layers=("block3_conv2",), init="noise", deterministic=True,
                    precision="float32",  # tiled equals whole to 1e-4 in float32
                    style_layers=("block1_conv1", "block2_conv1", "block3_conv1"))
    straight = run(TransferConfig(workdir=str(tmp_path / "a"), iters=4, **settings))
    run(TransferConfig(workdir=str(tmp_path / "b"), iters=2, **settings))
    resumed = run(TransferConfig(workdir=str(tmp_path / "b"), iters=4, tile_size=32, **settings))
    np.testing.assert_allclose(resumed, straight, atol=0.05)


def test_a_seamless_pictures_loss_is_the_same_wherever_its_edges_are():
    """A seamless picture is one period of an endless one: moved by 16 px (a whole cell of
    the four pools) along a wrapped axis it is the same endless picture, and the terms of
    the picture alone (style, smoothness) are the same; the content and Laplacian terms
    compare it with the unmoved photo. Moved along an axis that does not wrap, or with no
    wrap at all, it is another picture."""
    transfer, image = _transfer(64, 96, seamless="x", laplacian_weight=1.0)
    plain, _ = _transfer(64, 96, laplacian_weight=1.0)
    start = image.numpy()
    before = transfer.compute_losses(image)
    across = transfer.compute_losses(tf.constant(np.roll(start, 16, axis=2)))
    for name in ("style", "style/block1_conv1", "style/block5_conv1", "tv"):
        np.testing.assert_allclose(float(across[name]), float(before[name]), rtol=1e-5,
                                   err_msg=name)
    down = transfer.compute_losses(tf.constant(np.roll(start, 16, axis=1)))
    assert abs(float(down["style"]) / float(before["style"]) - 1) > 1e-4  # y does not wrap
    unwrapped = plain.compute_losses(tf.constant(np.roll(start, 16, axis=2)))
    assert abs(float(unwrapped["style"]) / float(plain.compute_losses(image)["style"]) - 1) > 1e-4
