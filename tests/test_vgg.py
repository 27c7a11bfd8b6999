"""Our VGG19 against keras.applications.VGG19: names, structure and preprocessing."""

import keras
import numpy as np
import pytest

from tf_style import config, vgg


@pytest.fixture(scope="module")
def keras_vgg19():
    return keras.applications.VGG19(weights=None, include_top=False)


def test_conv_layer_names_match_keras_applications(keras_vgg19):
    keras_names = [layer.name for layer in keras_vgg19.layers
                   if isinstance(layer, keras.layers.Conv2D)]
    model = vgg.build_vgg19(["block5_conv4"])
    assert [layer.name for layer in vgg.conv_layers(model)] == keras_names
    assert list(config.VGG19_CONV_LAYER_NAMES) == keras_names


def test_kernel_shapes_match_keras_applications(keras_vgg19):
    model = vgg.build_vgg19(["block5_conv4"])
    for layer in vgg.conv_layers(model):
        assert layer.kernel.shape == keras_vgg19.get_layer(layer.name).kernel.shape


def test_model_stops_at_deepest_requested_layer_and_returns_dict():
    model = vgg.build_vgg19(["block2_conv1", "block1_conv2"])
    assert [layer.name for layer in vgg.conv_layers(model)] == [
        "block1_conv1", "block1_conv2", "block2_conv1"]
    outputs = model(np.zeros((1, 40, 36, 3), np.float32))
    assert set(outputs) == {"block2_conv1", "block1_conv2"}
    assert outputs["block1_conv2"].shape == (1, 40, 36, 64)
    assert outputs["block2_conv1"].shape == (1, 20, 18, 128)


def test_average_pooling_is_default_and_max_is_an_option():
    avg = vgg.build_vgg19(["block2_conv1"])
    maxed = vgg.build_vgg19(["block2_conv1"], pooling="max")
    assert type(avg.get_layer("block1_pool")).__name__ == "AveragePooling2D"
    assert type(maxed.get_layer("block1_pool")).__name__ == "MaxPooling2D"


@pytest.mark.parametrize("bad", [dict(output_layer_names=["block6_conv1"]),
                                 dict(output_layer_names=["block1_conv1"], pooling="min"),
                                 dict(output_layer_names=[])])
def test_bad_arguments_raise_value_error_saying_what_was_received(bad):
    with pytest.raises(ValueError, match="Received"):
        vgg.build_vgg19(**bad)


def test_preprocessing_matches_keras():
    rgb = np.random.default_rng(0).uniform(0, 255, size=(2, 8, 9, 3)).astype(np.float32)
    expected = keras.applications.vgg19.preprocess_input(rgb.copy())
    np.testing.assert_allclose(np.asarray(vgg.preprocess_input(rgb)), expected, atol=1e-4)
