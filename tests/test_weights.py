"""Weight loaders, on files the tests write in the official Keras and MatConvNet layouts."""

import os

import keras
import numpy as np
import pytest

from tf_style import vgg, weights
from tf_style.testing import (reference_weights as make_reference_weights, write_keras_h5,
                              write_matconvnet)


def _our_features(source, layer_names, image, pooling="avg"):
    model = vgg.build_vgg(layer_names, pooling=pooling)
    weights.load_weights(model, source)
    return {k: np.asarray(v) for k, v in model(vgg.preprocess_input(image)).items()}


@pytest.fixture(scope="module")
def reference_weights():
    return make_reference_weights()


@pytest.fixture
def test_image():
    return np.random.default_rng(5).uniform(0, 255, size=(1, 48, 40, 3)).astype(np.float32)


def test_keras_file_matches_keras_applications_vgg19(tmp_path, reference_weights, test_image):
    path = str(tmp_path / weights.KERAS_WEIGHTS_FILE)
    write_keras_h5(path, reference_weights)
    reference = keras.applications.VGG19(weights=path, include_top=False)
    probe_names = ["block1_conv1", "block3_conv2", "block5_conv4"]
    probe = keras.Model(reference.input, [reference.get_layer(n).output for n in probe_names])
    expected = probe(keras.applications.vgg19.preprocess_input(test_image.copy()))
    ours = _our_features(weights.WeightsSource("keras_h5", path=path), probe_names, test_image, "max")
    for name, value in zip(probe_names, expected):
        value = np.asarray(value)
        np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=1e-5 * np.abs(value).max())


def test_matconvnet_file_gives_the_same_network_as_the_keras_file(tmp_path, reference_weights,
                                                                   test_image):
    h5_path, mat_path = str(tmp_path / "w.h5"), str(tmp_path / "w.mat")
    write_keras_h5(h5_path, reference_weights)
    write_matconvnet(mat_path, reference_weights, vgg.CAFFE_MEAN_BGR[::-1])
    names = ["block1_conv1", "block4_conv2", "block5_conv1"]
    from_h5 = _our_features(weights.WeightsSource("keras_h5", path=h5_path), names, test_image)
    from_mat = _our_features(weights.WeightsSource("matconvnet", path=mat_path), names, test_image)
    for name in names:
        np.testing.assert_allclose(from_mat[name], from_h5[name], rtol=1e-4,
                                   atol=1e-5 * np.abs(from_h5[name]).max())


def test_matconvnet_mean_is_folded_into_the_first_bias(tmp_path, reference_weights, test_image):
    """With a mean that differs from Caffe's, the network sees x - that mean (RGB)."""
    mat_path = str(tmp_path / "w.mat")
    mean_rgb = vgg.CAFFE_MEAN_BGR[::-1] + np.array([3.0, -2.0, 1.5], np.float32)
    write_matconvnet(mat_path, reference_weights, mean_rgb)
    ours = _our_features(weights.WeightsSource("matconvnet", path=mat_path), ["block1_conv1"],
                         test_image)
    # Independent reference: MatConvNet's own convention, RGB minus its mean, computed by hand.
    kernel, bias = reference_weights["block1_conv1"]
    rgb_kernel = kernel[:, :, ::-1, :]
    centred = np.pad(test_image[0] - mean_rgb, ((1, 1), (1, 1), (0, 0)))
    height, width = test_image.shape[1:3]
    expected = np.zeros((height, width, kernel.shape[-1]), np.float64)
    for dy in range(3):
        for dx in range(3):
            expected += centred[dy:dy + height, dx:dx + width] @ rgb_kernel[dy, dx]
    expected = np.maximum(expected + bias, 0)
    # Exact away from the border, where zero padding sees the mean shift.
    np.testing.assert_allclose(ours["block1_conv1"][0, 1:-1, 1:-1], expected[1:-1, 1:-1],
                               rtol=1e-4, atol=1e-3)


def test_vgg16s_keras_file_matches_keras_applications_vgg16(tmp_path, test_image):
    path = str(tmp_path / weights.KERAS_WEIGHTS_FILES["vgg16"][0])
    write_keras_h5(path, make_reference_weights(seed=1, model="vgg16"))
    reference = keras.applications.VGG16(weights=path, include_top=False)
    probe_names = ["block1_conv2", "block3_conv3", "block5_conv3"]
    probe = keras.Model(reference.input, [reference.get_layer(n).output for n in probe_names])
    expected = probe(keras.applications.vgg16.preprocess_input(test_image.copy()))
    source = weights.resolve_weights(path, "unused", 0, model="vgg16")
    model = vgg.build_vgg(probe_names, pooling="max", model="vgg16")
    weights.load_weights(model, source)
    ours = model(vgg.preprocess_input(test_image))
    for name, value in zip(probe_names, expected):
        value = np.asarray(value)
        np.testing.assert_allclose(np.asarray(ours[name]), value, rtol=1e-5,
                                   atol=1e-5 * np.abs(value).max())


def test_a_file_of_the_other_model_is_refused_in_one_line(tmp_path, reference_weights):
    """VGG19's file has every VGG16 layer name, with shapes that fit: only its extra layers
    tell it apart, and loading it into VGG16 would silently give a wrong network."""
    path = str(tmp_path / "vgg19.h5")
    write_keras_h5(path, reference_weights)
    with pytest.raises(weights.WeightsError, match="holds VGG19's conv layers; run with --model "
                       "vgg19. Received: --model vgg16"):
        weights.resolve_weights(path, "unused", 0, model="vgg16")
    vgg16_path = str(tmp_path / "vgg16.h5")
    write_keras_h5(vgg16_path, make_reference_weights(model="vgg16"))
    with pytest.raises(weights.WeightsError, match="run with --model vgg16"):
        weights.resolve_weights(vgg16_path, "unused", 0, model="vgg19")


def test_imagenet_weights_are_looked_for_under_each_models_name(tmp_path):
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    with pytest.raises(weights.NotDownloaded, match="vgg16_weights_tf_dim_ordering"):
        weights.resolve_weights("auto", str(weights_dir), 0, model="vgg16", download=False)
    assert weights.keras_weights_url("vgg16").endswith(
        "/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert weights.KERAS_WEIGHTS_FILES["vgg16"][1] == "6d6bbae143d832006294945121d1f1fc"


def test_random_vgg16_weights_are_seeded_per_layer():
    first, second = (vgg.build_vgg(["block4_conv1"], model="vgg16") for _ in range(2))
    for model in (first, second):
        weights.load_weights(model, weights.WeightsSource("random", seed=3))
    for layer in vgg.conv_layers(first):
        np.testing.assert_array_equal(layer.kernel.numpy(),
                                      second.get_layer(layer.name).kernel.numpy())
    kernel = first.get_layer("block4_conv1").kernel.numpy()  # fan_in = 3*3*256
    np.testing.assert_allclose(kernel.std(), np.sqrt(2 / (9 * 256)), rtol=0.02)


def test_wrong_shape_is_refused(tmp_path, reference_weights):
    path = str(tmp_path / "bad.h5")
    write_keras_h5(path, reference_weights, break_layer="block1_conv2")
    model = vgg.build_vgg(["block2_conv1"])
    with pytest.raises(weights.WeightsError, match="wrong shape for block1_conv2"):
        weights.load_weights(model, weights.WeightsSource("keras_h5", path=path))


def test_not_a_weight_file_is_refused(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(weights.WeightsError, match="cannot read Keras weight file"):
        weights.load_weights(vgg.build_vgg(["block1_conv1"]),
                             weights.WeightsSource("keras_h5", path=str(path)))


def test_random_weights_are_seeded_he_normal_and_independent_of_depth():
    shallow = vgg.build_vgg(["block1_conv2"])
    deep = vgg.build_vgg(["block3_conv1"])
    again = vgg.build_vgg(["block3_conv1"])
    other_seed = vgg.build_vgg(["block3_conv1"])
    for model, seed in ((shallow, 7), (deep, 7), (again, 7), (other_seed, 8)):
        weights.load_weights(model, weights.WeightsSource("random", seed=seed))
    np.testing.assert_array_equal(shallow.get_layer("block1_conv2").kernel.numpy(),
                                  deep.get_layer("block1_conv2").kernel.numpy())
    np.testing.assert_array_equal(deep.get_layer("block3_conv1").kernel.numpy(),
                                  again.get_layer("block3_conv1").kernel.numpy())
    assert not np.allclose(deep.get_layer("block3_conv1").kernel.numpy(),
                           other_seed.get_layer("block3_conv1").kernel.numpy())
    kernel = deep.get_layer("block3_conv1").kernel.numpy()  # fan_in = 3*3*128
    np.testing.assert_allclose(kernel.std(), np.sqrt(2 / (9 * 128)), rtol=0.02)
    assert abs(kernel.mean()) < 0.002


# --- finding, downloading and verifying the ImageNet file ---------------------------

def _fake_release(tmp_path, content=b"pretend these are 80 MB of weights"):
    """A file served from a file:// URL under the official name, and its md5."""
    served = tmp_path / "server" / weights.KERAS_WEIGHTS_FILE
    served.parent.mkdir()
    served.write_bytes(content)
    return "file://" + str(served), weights.file_md5(str(served))


def test_download_is_verified_and_kept_in_weights_dir(tmp_path):
    origin, md5 = _fake_release(tmp_path)
    weights_dir = str(tmp_path / "weights")
    path = weights.find_or_download_imagenet(
        weights_dir, origin=origin, md5=md5, keras_cache_dir=str(tmp_path / "cache"))
    assert path == os.path.join(weights_dir, weights.KERAS_WEIGHTS_FILE)
    assert weights.file_md5(path) == md5
    assert os.listdir(weights_dir) == [weights.KERAS_WEIGHTS_FILE]  # no scratch left


def test_download_with_wrong_hash_is_refused_and_not_kept(tmp_path):
    origin, _ = _fake_release(tmp_path)
    weights_dir = tmp_path / "weights"
    with pytest.raises(weights.WeightsError, match="download failed"):
        weights.find_or_download_imagenet(
            str(weights_dir), origin=origin, md5="0" * 32, keras_cache_dir=str(tmp_path / "cache"))
    assert os.listdir(weights_dir) == []


def test_partial_file_is_never_used(tmp_path):
    origin, md5 = _fake_release(tmp_path)
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    partial = weights_dir / weights.KERAS_WEIGHTS_FILE
    partial.write_bytes(b"pretend these")  # an interrupted download
    offline = "file://" + str(tmp_path / "nowhere" / weights.KERAS_WEIGHTS_FILE)
    with pytest.raises(weights.WeightsError, match="wrong md5"):
        weights.find_or_download_imagenet(
            str(weights_dir), origin=offline, md5=md5, keras_cache_dir=str(tmp_path / "cache"))
    # Online again, the partial file is replaced by a verified download.
    path = weights.find_or_download_imagenet(
        str(weights_dir), origin=origin, md5=md5, keras_cache_dir=str(tmp_path / "cache"))
    assert weights.file_md5(path) == md5


def test_keras_cache_is_used_without_downloading(tmp_path):
    _, md5 = _fake_release(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / weights.KERAS_WEIGHTS_FILE).write_bytes(b"pretend these are 80 MB of weights")
    offline = "file://" + str(tmp_path / "nowhere" / weights.KERAS_WEIGHTS_FILE)
    path = weights.find_or_download_imagenet(
        str(tmp_path / "weights"), origin=offline, md5=md5, keras_cache_dir=str(cache))
    assert path == str(cache / weights.KERAS_WEIGHTS_FILE)


def test_auto_falls_back_to_random_when_offline_but_imagenet_does_not(tmp_path):
    offline = "file://" + str(tmp_path / "nowhere" / weights.KERAS_WEIGHTS_FILE)
    kwargs = dict(origin=offline, md5="0" * 32, keras_cache_dir=str(tmp_path / "cache"))
    source = weights.resolve_weights("auto", str(tmp_path / "weights"), seed=3, **kwargs)
    assert source == weights.WeightsSource("random", seed=3)
    with pytest.raises(weights.WeightsError):
        weights.resolve_weights("imagenet", str(tmp_path / "weights"), seed=3, **kwargs)


def test_auto_takes_imagenet_when_present(tmp_path):
    origin, md5 = _fake_release(tmp_path)
    source = weights.resolve_weights("auto", str(tmp_path / "weights"), seed=0, origin=origin,
                                     md5=md5, keras_cache_dir=str(tmp_path / "cache"))
    assert source.kind == "imagenet" and source.md5 == md5


def test_weight_path_kinds_and_missing_file(tmp_path, reference_weights):
    h5_path = str(tmp_path / "w.h5")
    write_keras_h5(h5_path, reference_weights)
    assert weights.resolve_weights(h5_path, "weights", 0).kind == "keras_h5"
    with pytest.raises(weights.WeightsError, match="no file"):
        weights.resolve_weights(str(tmp_path / "missing.h5"), "weights", 0)
