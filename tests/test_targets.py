"""Targets built crop by crop (tiles) against the whole image's (one crop)."""

import numpy as np

from tf_style import vgg, weights
from tf_style.config import TransferConfig
from tf_style.inputs import PreparedInputs
from tf_style.testing import synthetic_image
from tf_style.transfer import StyleTransfer


def _model(layers):
    model = vgg.build_vgg(layers, precision="float32")
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    return model


def test_targets_computed_tile_by_tile_equal_the_whole_images():
    """With tiles the content features and style Grams (guided too) are built tile by tile."""
    content = synthetic_image(96, 112, seed=1).astype(np.float32)
    styles = [synthetic_image(80, 96, seed=2).astype(np.float32),
              synthetic_image(64, 80, seed=3).astype(np.float32)]
    style_mask = np.zeros((80, 96), np.float32)
    style_mask[:, :40] = 1.0
    content_mask = np.zeros((96, 112), np.float32)
    content_mask[:, 56:] = 1.0
    layers = dict(content_layers=("block3_conv2",),
                  style_layers=("block1_conv1", "block2_conv1", "block3_conv1"))
    model = _model(layers["content_layers"] + layers["style_layers"])
    inputs = PreparedInputs.from_arrays(content, styles, content_masks=[content_mask, 1 - content_mask],
                                        style_masks=[style_mask, np.ones((64, 80), np.float32)])
    transfers = [StyleTransfer.from_config(TransferConfig(
        content="c.png", style="a.png,b.png", content_mask="m.png,n.png",
        style_mask="s.png,t.png", tile_size=tile_size, **layers), inputs, model)
        for tile_size in (None, 32)]
    whole, tiled = transfers
    for name in layers["content_layers"]:
        np.testing.assert_allclose(tiled.targets.content[name], whole.targets.content[name],
                                   rtol=1e-5, atol=1e-5)
    for whole_region, tiled_region in zip(whole.targets.style_regions, tiled.targets.style_regions):
        for name in layers["style_layers"]:
            for moment in ("mean", "second_moment"):
                expected = np.asarray(getattr(whole_region.targets[name], moment))
                np.testing.assert_allclose(getattr(tiled_region.targets[name], moment), expected,
                                           rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def _middle_copy_moments(model, painting, copies, name):
    """NumPy's moments of a layer's features of the middle copy of `painting` repeated
    (rows, columns) times through the zero-padded network: what an endless painting gives."""
    repeated = np.tile(painting[None], (1, *copies, 1))
    features = model(vgg.preprocess_input(repeated))[name].numpy()[0].astype(np.float64)
    factor = 2 ** (int(name[5]) - 1)
    height, width = painting.shape[0] // factor, painting.shape[1] // factor
    middle = features[(copies[0] // 2) * height:(copies[0] // 2 + 1) * height,
                      (copies[1] // 2) * width:(copies[1] // 2 + 1) * width]
    flat = middle.reshape(-1, middle.shape[-1])
    return flat.mean(axis=0), flat.T @ flat / len(flat)


def test_a_seamless_runs_painting_statistics_are_those_of_the_painting_repeated_without_end():
    """A seamless run sees its painting through the wrapped network, whole or tile by tile
    (halos wrapped): the statistics of an endless repeat of the painting along the wrapped
    axes. Without the wrap they differ (the zero padding's edges)."""
    content = synthetic_image(96, 112, seed=1).astype(np.float32)
    painting = synthetic_image(64, 80, seed=2).astype(np.float32)
    layers = dict(content_layers=("block2_conv1",),
                  style_layers=("block1_conv1", "block2_conv1", "block3_conv1"))
    model = _model(layers["content_layers"] + layers["style_layers"])
    inputs = PreparedInputs.from_arrays(content, [painting])
    for seamless, copies in (("x", (1, 3)), ("both", (3, 3)), (None, (1, 1))):
        for tile_size in (None, 32):
            transfer = StyleTransfer.from_config(TransferConfig(
                content="c.png", style="a.png", seamless=seamless, tile_size=tile_size,
                **layers), inputs, model)
            for name in layers["style_layers"]:
                mean, second_moment = _middle_copy_moments(model, painting, copies, name)
                target = transfer.targets.style_regions[0].targets[name]
                np.testing.assert_allclose(np.asarray(target.mean)[0], mean, rtol=1e-4,
                                           atol=1e-5 * np.abs(mean).max())
                np.testing.assert_allclose(np.asarray(target.second_moment)[0], second_moment,
                                           rtol=1e-4, atol=1e-5 * np.abs(second_moment).max())
    plain_mean, _ = _middle_copy_moments(model, painting, (1, 1), "block3_conv1")
    endless_mean, _ = _middle_copy_moments(model, painting, (3, 3), "block3_conv1")
    assert np.abs(plain_mean - endless_mean).max() > 1e-2 * np.abs(endless_mean).max()
