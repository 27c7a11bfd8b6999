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


def _region_moments(model, painting, name, wrap, margin=128, columns=None):
    """NumPy's moments of a layer's features over the painting's own positions (its
    columns `columns` only, when given), the painting mirrored `margin` px out on the axes
    `wrap` names: further than any layer here sees, so no edge reaches them."""
    widths = [(margin, margin) if wraps else (0, 0) for wraps in wrap] + [(0, 0)]
    extended = np.pad(painting, widths, mode="symmetric")
    features = model(vgg.preprocess_input(extended[None]))[name].numpy()[0].astype(np.float64)
    factor = 2 ** (int(name[5]) - 1)
    top, left = widths[0][0] // factor, widths[1][0] // factor
    height, width = painting.shape[0] // factor, painting.shape[1] // factor
    if columns is not None:
        width = columns // factor
    flat = features[top:top + height, left:left + width].reshape(-1, features.shape[-1])
    return flat.mean(axis=0), flat.T @ flat / len(flat)


def test_a_seamless_runs_painting_statistics_leave_out_its_edges_on_the_axes_that_wrap():
    """A seamless picture has no edge where it wraps, so its painting's statistics are
    taken as if the painting went on there (mirrored): whole or tile by tile, equal to
    those over its own positions of a painting mirrored further out than any layer sees;
    with a style mask, over the mask's part. A plain run's are the painting's as it is."""
    content = synthetic_image(96, 112, seed=1).astype(np.float32)
    painting = synthetic_image(64, 80, seed=2).astype(np.float32)
    left = np.zeros((64, 80), np.float32)
    left[:, :48] = 1.0
    layers = dict(content_layers=("block2_conv1",),
                  style_layers=("block1_conv1", "block2_conv1", "block3_conv1"))
    model = _model(layers["content_layers"] + layers["style_layers"])
    cases = [(seamless, tile_size, masked) for seamless in ("x", "y", "both", None)
             for tile_size in (None, 32) for masked in (False, True)]
    for seamless, tile_size, masked in cases:
        inputs = PreparedInputs.from_arrays(content, [painting],
                                            style_masks=[left] if masked else None)
        transfer = StyleTransfer.from_config(TransferConfig(
            content="c.png", style="a.png", seamless=seamless, tile_size=tile_size,
            style_mask="m.png" if masked else (), **layers), inputs, model)
        wrap = (seamless in ("y", "both"), seamless in ("x", "both"))
        for name in layers["style_layers"]:
            mean, second_moment = _region_moments(model, painting, name, wrap,
                                                  columns=48 if masked else None)
            target = transfer.targets.style_regions[0].targets[name]
            np.testing.assert_allclose(np.asarray(target.mean)[0], mean, rtol=1e-4,
                                       atol=1e-5 * np.abs(mean).max())
            np.testing.assert_allclose(np.asarray(target.second_moment)[0], second_moment,
                                       rtol=1e-4, atol=1e-5 * np.abs(second_moment).max())
    plain_mean, _ = _region_moments(model, painting, "block3_conv1", (False, False))
    edgeless_mean, _ = _region_moments(model, painting, "block3_conv1", (True, True))
    assert np.abs(plain_mean - edgeless_mean).max() > 1e-2 * np.abs(edgeless_mean).max()
