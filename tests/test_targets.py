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
