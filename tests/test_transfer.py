"""The optimisation step: what it optimises, what it computes, and what it leaves alone."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import synthetic_image
from tf_style import losses, vgg, weights
from tf_style.config import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from tf_style.transfer import StyleTransfer


def make_transfer(initial="content", lr=5.0, optimizer="adam", size=48):
    model = vgg.build_vgg19(DEFAULT_CONTENT_LAYERS + DEFAULT_STYLE_LAYERS)
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    content = synthetic_image(size, size, seed=1).astype(np.float32)
    style = synthetic_image(size + 16, size + 16, seed=2).astype(np.float32)
    start = {"content": content,
             "noise": np.random.default_rng(0).uniform(0, 255, content.shape).astype(np.float32)}[initial]
    return StyleTransfer(
        model, content, style, start, content_layers=DEFAULT_CONTENT_LAYERS,
        style_layers=DEFAULT_STYLE_LAYERS, style_layer_weights=[0.2] * 5, content_weight=1.0,
        style_weight=1e3, tv_weight=1e-2, optimizer=optimizer, learning_rate=lr), content, style


def test_losses_combine_as_documented():
    transfer, content, style = make_transfer()
    result = {k: float(v) for k, v in transfer.compute_losses(tf.constant(content[None])).items()}
    assert result["content"] == pytest.approx(0.0, abs=1e-7)  # the image is the content
    expected_style = sum(0.2 * result[f"style/{name}"] for name in DEFAULT_STYLE_LAYERS)
    assert result["style"] == pytest.approx(expected_style, rel=1e-5)
    assert result["tv"] == pytest.approx(float(losses.total_variation_loss(content[None])), rel=1e-5)
    assert result["total"] == pytest.approx(result["content"] + 1e3 * result["style"]
                                            + 1e-2 * result["tv"], rel=1e-5)
    # The style target is the style image's Gram: the style image scores zero style loss.
    style_features = transfer.features(tf.constant(style[None]))
    for name in DEFAULT_STYLE_LAYERS:
        error = losses.style_layer_loss(style_features[name], transfer.style_regions[0].targets[name])
        assert float(error) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_steps_reduce_the_loss(optimizer):
    lr = {"adam": 5.0, "rmsprop": 2.0}[optimizer]
    transfer, _, _ = make_transfer(initial="noise", lr=lr, optimizer=optimizer)
    first = float(transfer.train_step()["total"])
    for _ in range(15):
        last = float(transfer.train_step()["total"])
    assert last < 0.7 * first
    assert int(transfer.step) == 16


def test_pixels_stay_in_range_even_with_a_huge_learning_rate():
    transfer, _, _ = make_transfer(lr=500.0)
    for _ in range(3):
        transfer.train_step()
    image = transfer.result()
    assert image.min() >= 0.0 and image.max() <= 255.0
    assert image.min() == 0.0 or image.max() == 255.0  # it really was pushed out and clipped


def test_train_step_runs_the_network_once_forward_and_targets_are_constants():
    """Targets are computed once outside the step: the graph has one forward pass."""
    transfer, _, _ = make_transfer()
    graph = transfer.train_step.get_concrete_function().graph
    op_types = [op.type for op in graph.get_operations()]
    conv_layers = len(vgg.conv_layers(transfer.feature_model))
    assert op_types.count("Conv2D") == conv_layers
    assert "Conv2DBackpropInput" in op_types  # and it differentiates through them
