"""ONNX weights against onnxruntime running the same file: both input conventions, and
the refusals."""

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from tf_style import onnx_weights, tile_geometry, vgg, weights  # noqa: E402
from tf_style.architecture import MODEL_BLOCKS  # noqa: E402
from tf_style.testing import write_onnx_vgg  # noqa: E402

PROBES = ["block1_conv2", "block3_conv1", "block4_conv2", "block5_conv1"]


def _convolutions(model="vgg16", seed=0):
    """He-normal kernels in ONNX's (out, in, 3, 3) layout and non-zero biases."""
    rng = np.random.default_rng(seed)
    result, inputs = [], 3
    for filters, convolutions in MODEL_BLOCKS[model]:
        for _ in range(convolutions):
            result.append((rng.standard_normal((filters, inputs, 3, 3)) * np.sqrt(2.0 / (9 * inputs)),
                           rng.normal(0, 0.1, filters)))
            inputs = filters
    return result


@pytest.fixture(scope="module")
def vgg16_convolutions():
    return _convolutions("vgg16")


@pytest.fixture
def rgb():
    return np.random.default_rng(3).uniform(0, 255, (1, 64, 48, 3)).astype(np.float32)


def _onnxruntime_features(path, feed):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return {name[:-len("_relu")]: np.transpose(value, (0, 2, 3, 1))
            for name, value in zip(names, session.run(names, {"input": feed}))}


def _our_features(path, rgb, convention="auto", model="vgg16"):
    source = weights.resolve_weights(path, "unused", 0, model=model, onnx_convention=convention)
    network = vgg.build_vgg(PROBES, pooling="max", model=model)
    weights.load_weights(network, source)
    return source, {name: np.asarray(value) for name, value in
                    network(vgg.preprocess_input(rgb)).items()}


def test_a_keras_export_gives_onnxruntimes_features(tmp_path, vgg16_convolutions, rgb):
    path = str(tmp_path / "keras.onnx")
    write_onnx_vgg(path, vgg16_convolutions, "NHWC", "tf2onnx")
    # A Keras export takes what Keras's VGG takes: BGR less Caffe's mean, NHWC.
    expected = _onnxruntime_features(path, np.asarray(vgg.preprocess_input(rgb), np.float32))
    source, ours = _our_features(path, rgb)
    assert source.convention == "keras" and "tf2onnx" in source.convention_reason
    for name in PROBES:
        scale = np.abs(expected[name]).max()
        assert np.abs(ours[name] - expected[name]).max() <= 1e-4 * scale, name


def test_a_torchvision_export_is_folded_into_the_first_conv(tmp_path, vgg16_convolutions):
    """Away from the border (where zero padding means a slightly different grey to each),
    the folded network equals onnxruntime fed torchvision's normalised RGB: at every
    position whose receptive field stays inside the image."""
    rgb = np.random.default_rng(4).uniform(0, 255, (1, 160, 128, 3)).astype(np.float32)
    path = str(tmp_path / "torch.onnx")
    write_onnx_vgg(path, vgg16_convolutions, "NCHW", "pytorch")
    normalised = ((rgb / 255.0 - onnx_weights.IMAGENET_MEAN_RGB)
                  / onnx_weights.IMAGENET_DEVIATION_RGB)
    expected = _onnxruntime_features(path, np.transpose(normalised, (0, 3, 1, 2)).astype(np.float32))
    source, ours = _our_features(path, rgb)
    assert source.convention == "torchvision"
    for name in PROBES[:-1]:  # block5's receptive field spans a 160 px image
        before, after = tile_geometry.halo_sides([name], "vgg16")
        factor = tile_geometry.layer_factor(name)
        first, last = -(-before // factor), -(-after // factor)
        inner = (slice(None), slice(first, -last), slice(first, -last))
        scale = np.abs(expected[name]).max()
        assert ours[name][inner].size > 0
        assert np.abs(ours[name][inner] - expected[name][inner]).max() <= 1e-4 * scale, name
        # The border is where the two paddings differ, and only a little.
        assert np.abs(ours[name] - expected[name]).max() <= 2e-2 * scale, name


def test_the_convention_flag_overrides_the_graph(tmp_path, vgg16_convolutions, rgb):
    """Read as torchvision's, a Keras export's features change: the flag is what is used."""
    path = str(tmp_path / "keras.onnx")
    write_onnx_vgg(path, vgg16_convolutions, "NHWC", "tf2onnx")
    _, as_read = _our_features(path, rgb)
    source, as_told = _our_features(path, rgb, convention="torchvision")
    assert source.convention == "torchvision" and "--onnx_convention" in source.convention_reason
    assert np.abs(as_told["block1_conv2"] - as_read["block1_conv2"]).max() > 1.0


@pytest.mark.parametrize("layout, producer, in_front, said", [
    ("NCHW", "tf2onnx", None, "producer 'tf2onnx'"),  # a layout its producer never writes
    ("NHWC", "some-exporter", None, "producer 'some-exporter'"),
    ("NCHW", "pytorch", "Sub", "Sub stands between the input and it"),  # normalised in-graph
])
def test_an_unclear_convention_is_refused_in_one_line(tmp_path, layout, producer, in_front, said):
    path = str(tmp_path / "unclear.onnx")
    tiny = [(np.ones((3, 3, 3, 3)), np.zeros(3))] * 13
    write_onnx_vgg(path, tiny, layout, producer, in_front=in_front)
    with pytest.raises(weights.WeightsError) as error:
        weights.resolve_weights(path, "unused", 0, model="vgg16")
    message = str(error.value)
    assert said in message and "--onnx_convention keras" in message and "\n" not in message
    source = weights.resolve_weights(path, "unused", 0, model="vgg16", onnx_convention="keras")
    assert source.convention == "keras"


def test_the_conv_count_must_agree_with_the_model(tmp_path):
    path = str(tmp_path / "vgg19.onnx")
    write_onnx_vgg(path, [(np.ones((3, 3, 3, 3)), np.zeros(3))] * 16, "NHWC", "tf2onnx")
    with pytest.raises(weights.WeightsError, match="holds VGG19's conv layers; run with --model "
                       "vgg19. Received: --model vgg16"):
        weights.resolve_weights(path, "unused", 0, model="vgg16")
    assert weights.resolve_weights(path, "unused", 0, model="vgg19").convention == "keras"
    write_onnx_vgg(path, [(np.ones((3, 3, 3, 3)), np.zeros(3))] * 12, "NHWC", "tf2onnx")
    with pytest.raises(weights.WeightsError, match="has 12 conv layers; a VGG16 has 13"):
        weights.resolve_weights(path, "unused", 0, model="vgg16")


def test_wrong_shapes_are_refused_by_layer(tmp_path):
    path = str(tmp_path / "tiny.onnx")
    write_onnx_vgg(path, [(np.ones((3, 3, 3, 3)), np.zeros(3))] * 13, "NHWC", "tf2onnx")
    source = weights.resolve_weights(path, "unused", 0, model="vgg16")
    with pytest.raises(weights.WeightsError, match="wrong shape for block1_conv1"):
        weights.load_weights(vgg.build_vgg(["block1_conv2"], model="vgg16"), source)


def test_a_file_that_is_not_onnx_is_one_line(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x00\x01 not a protobuf" * 10)
    with pytest.raises(weights.WeightsError) as error:
        weights.resolve_weights(str(path), "unused", 0, model="vgg16")
    assert "cannot read ONNX file" in str(error.value) and "\n" not in str(error.value)


def test_folding_is_the_normalisation_written_out():
    """The folded first conv at one pixel equals the original conv of torchvision's input,
    computed by hand in float64."""
    rng = np.random.default_rng(0)
    kernel, bias = rng.standard_normal((3, 3, 3, 4)), rng.standard_normal(4)
    folded_kernel, folded_bias = onnx_weights.fold_torchvision_input(kernel, bias)
    patch_rgb = rng.uniform(0, 255, (3, 3, 3))
    torch_input = ((patch_rgb / 255 - onnx_weights.IMAGENET_MEAN_RGB)
                   / onnx_weights.IMAGENET_DEVIATION_RGB)
    keras_input = patch_rgb[..., ::-1] - onnx_weights.CAFFE_MEAN_BGR
    expected = np.einsum("hwi,hwio->o", torch_input, kernel) + bias
    ours = np.einsum("hwi,hwio->o", keras_input, folded_kernel) + folded_bias
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
