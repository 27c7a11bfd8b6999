"""Our VGG19 and VGG16 against keras.applications': names, structure and preprocessing."""

import keras
import numpy as np
import pytest

from tf_style import architecture, vgg, weights


@pytest.fixture(scope="module")
def keras_vgg19():
    return keras.applications.VGG19(weights=None, include_top=False)


def test_conv_layer_names_match_keras_applications(keras_vgg19):
    keras_names = [layer.name for layer in keras_vgg19.layers
                   if isinstance(layer, keras.layers.Conv2D)]
    model = vgg.build_vgg(["block5_conv4"])
    assert [layer.name for layer in vgg.conv_layers(model)] == keras_names
    assert list(architecture.VGG19_CONV_LAYER_NAMES) == keras_names


def test_kernel_shapes_match_keras_applications(keras_vgg19):
    model = vgg.build_vgg(["block5_conv4"])
    for layer in vgg.conv_layers(model):
        assert layer.kernel.shape == keras_vgg19.get_layer(layer.name).kernel.shape


@pytest.mark.parametrize("model, reference", [("vgg19", keras.applications.VGG19),
                                              ("vgg16", keras.applications.VGG16)])
def test_each_model_has_keras_applications_layers_and_shapes(model, reference):
    built = reference(weights=None, include_top=False)
    keras_convs = [layer for layer in built.layers if isinstance(layer, keras.layers.Conv2D)]
    ours = vgg.conv_layers(vgg.build_vgg([architecture.conv_layer_names(model)[-1]], model=model))
    assert [layer.name for layer in ours] == [layer.name for layer in keras_convs]
    assert list(architecture.conv_layer_names(model)) == [layer.name for layer in keras_convs]
    for mine, theirs in zip(ours, keras_convs):
        assert mine.kernel.shape == theirs.kernel.shape
    assert len(ours) == {"vgg19": 16, "vgg16": 13}[model]


def test_vgg16_lacks_vgg19s_fourth_convs():
    with pytest.raises(ValueError, match="Unknown VGG16 conv layer"):
        vgg.build_vgg(["block3_conv4"], model="vgg16")
    built = vgg.build_vgg(["block4_conv1"], model="vgg16")
    assert vgg.architecture(built) == "vgg16"
    assert [layer.name for layer in vgg.conv_layers(built)][-2:] == ["block3_conv3", "block4_conv1"]


def test_model_stops_at_deepest_requested_layer_and_returns_dict():
    model = vgg.build_vgg(["block2_conv1", "block1_conv2"])
    assert [layer.name for layer in vgg.conv_layers(model)] == [
        "block1_conv1", "block1_conv2", "block2_conv1"]
    outputs = model(np.zeros((1, 40, 36, 3), np.float32))
    assert set(outputs) == {"block2_conv1", "block1_conv2"}
    assert outputs["block1_conv2"].shape == (1, 40, 36, 64)
    assert outputs["block2_conv1"].shape == (1, 20, 18, 128)


def test_average_pooling_is_default_and_max_is_an_option():
    avg = vgg.build_vgg(["block2_conv1"])
    maxed = vgg.build_vgg(["block2_conv1"], pooling="max")
    assert type(avg.get_layer("block1_pool")).__name__ == "AveragePooling2D"
    assert type(maxed.get_layer("block1_pool")).__name__ == "MaxPooling2D"


@pytest.mark.parametrize("bad", [dict(output_layer_names=["block6_conv1"]),
                                 dict(output_layer_names=["block1_conv1"], pooling="min"),
                                 dict(output_layer_names=[]),
                                 dict(output_layer_names=["block1_conv1"], model="vgg11")])
def test_bad_arguments_raise_value_error_saying_what_was_received(bad):
    with pytest.raises(ValueError, match="Received"):
        vgg.build_vgg(**bad)


def test_preprocessing_matches_keras():
    rgb = np.random.default_rng(0).uniform(0, 255, size=(2, 8, 9, 3)).astype(np.float32)
    expected = keras.applications.vgg19.preprocess_input(rgb.copy())
    np.testing.assert_allclose(np.asarray(vgg.preprocess_input(rgb)), expected, atol=1e-4)


@pytest.mark.parametrize("wrap", [(True, True), (False, True), (True, False)])
def test_a_wrapped_network_sees_the_picture_repeated_without_end(wrap):
    """The wrapped twin's features of a picture are the plain network's at the middle copy
    of the picture repeated 7 times along each wrapped axis (far enough that the zero
    padding at the repeat's own edge cannot reach it)."""
    names = ("block1_conv1", "block3_conv1", "block5_conv1")
    plain = vgg.build_vgg(names)
    weights.load_weights(plain, weights.WeightsSource("random", seed=0))
    wrapped = vgg.with_wrap(plain, wrap)
    height, width = 48, 32
    image = np.random.default_rng(9).uniform(0, 255, (1, height, width, 3)).astype(np.float32)
    copies = (7 if wrap[0] else 1, 7 if wrap[1] else 1)
    repeated = np.tile(image, (1, *copies, 1))
    got = wrapped(vgg.preprocess_input(image))
    reference = plain(vgg.preprocess_input(repeated))
    for name in names:
        factor = 2 ** (architecture.layer_block(name) - 1)
        rows, columns = height // factor, width // factor
        top = 3 * rows if wrap[0] else 0
        left = 3 * columns if wrap[1] else 0
        expected = reference[name].numpy()[:, top:top + rows, left:left + columns]
        np.testing.assert_allclose(got[name].numpy(), expected, rtol=1e-4,
                                   atol=1e-4 * np.abs(expected).max(), err_msg=name)


@pytest.mark.parametrize("wrap", [(True, True), (False, True), (True, False)])
def test_a_wrapped_networks_gradient_is_the_repeated_pictures_folded_back(wrap):
    """The gradient through the wrap padding (its own backward pass): the plain network's
    gradient of the middle copy's features over the picture repeated 5 times, each copy's
    share added back onto the picture."""
    import tensorflow as tf
    name = "block3_conv1"
    plain = vgg.build_vgg([name])
    weights.load_weights(plain, weights.WeightsSource("random", seed=0))
    wrapped = vgg.with_wrap(plain, wrap)
    height, width = 32, 48
    rng = np.random.default_rng(4)
    image = rng.uniform(0, 255, (1, height, width, 3)).astype(np.float32)
    projection = rng.normal(size=(1, height // 4, width // 4, 256)).astype(np.float32)
    copies = (5 if wrap[0] else 1, 5 if wrap[1] else 1)
    top, left = (2 * height if wrap[0] else 0), (2 * width if wrap[1] else 0)

    def gradient(network, picture, window):
        picture = tf.constant(picture)
        with tf.GradientTape() as tape:
            tape.watch(picture)
            features = network(vgg.preprocess_input(picture))[name][window]
            loss = tf.reduce_sum(features * projection)
        return tape.gradient(loss, picture).numpy()

    got = gradient(wrapped, image, slice(None))
    rows, columns = slice(top // 4, top // 4 + height // 4), slice(left // 4, left // 4 + width // 4)
    repeated = gradient(plain, np.tile(image, (1, *copies, 1)), (slice(None), rows, columns))
    folded = repeated.reshape(1, copies[0], height, copies[1], width, 3).sum(axis=(1, 3))
    np.testing.assert_allclose(got, folded, rtol=1e-4, atol=1e-4 * np.abs(folded).max())
