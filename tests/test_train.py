"""train.py as a user meets it: bad input gets one clear line, a non-zero exit, no traceback,
and whatever was in the run directory before is still there."""

import os

import numpy as np
import pytest
from PIL import Image

from conftest import run_train
from tf_style.testing import reference_weights, snapshot, write_image_pair, write_keras_h5

BASE = ["--weights", "random", "--size", "48", "--iters", "2", "--progress=false"]


def _assert_one_line_error(result, *expected):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("train.py: error:")]
    assert len(errors) == 1, result.stderr
    for text in expected:
        assert text in errors[0], errors[0]


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory):
    """A finished run whose directory every failing start below must leave alone."""
    tmp = tmp_path_factory.mktemp("cli")
    content, style = write_image_pair(str(tmp))
    workdir = str(tmp / "run")
    result = run_train("--content", content, "--style", style, "--workdir", workdir, *BASE)
    assert result.returncode == 0, result.stderr
    return tmp, content, style, workdir


def _bad_files(tmp):
    (tmp / "text.jpg").write_text("this is not an image")
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp / "whole.jpg")
    data = (tmp / "whole.jpg").read_bytes()
    (tmp / "truncated.jpg").write_bytes(data[: len(data) // 3])
    Image.new("RGB", (20, 20)).save(tmp / "tiny.png")
    Image.new("RGB", (400, 8)).save(tmp / "sliver.png")
    write_keras_h5(str(tmp / "wrong_shape.h5"), reference_weights(), break_layer="block2_conv1")
    (tmp / "corrupt_weights").mkdir(exist_ok=True)
    (tmp / "corrupt_weights" / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"partial")
    (tmp / "a_file").write_text("")
    Image.new("L", (64, 48), 0).save(tmp / "black.png")


CASES = {
    "missing content": (["--content", "{tmp}/missing.jpg"], ["not found", "missing.jpg"]),
    "not an image": (["--content", "{tmp}/text.jpg"], ["not an image"]),
    "truncated": (["--style", "{tmp}/truncated.jpg"], ["cannot read image", "truncated.jpg"]),
    "too small": (["--content", "{tmp}/tiny.png"], ["at least 32 px"]),
    "too thin after resize": (["--content", "{tmp}/sliver.png"], ["at least 32 px"]),
    "unknown layer": (["--style_layers", "block1_conv1,block6_conv9"], ["block6_conv9"]),
    "mismatched lengths": (["--style_layer_weights", "1,2"], ["one weight per style layer"]),
    "not numbers": (["--style_layer_weights", "1,x,1,1,1"], ["must be numbers"]),
    "negative weight": (["--style_weight", "-1"], ["style_weight"]),
    "zero iters": (["--iters", "0"], ["iters"]),
    "zero size": (["--size", "0"], ["size"]),
    "unwritable run dir": (["--workdir", "{tmp}/a_file/run"], ["cannot write to run directory"]),
    "wrong shape weights": (["--weights", "{tmp}/wrong_shape.h5"], ["wrong shape for block2_conv1"]),
    "missing weights": (["--weights", "{tmp}/nothing.h5"], ["no file"]),
    "corrupt imagenet file": (["--weights", "imagenet", "--weights_dir", "{tmp}/corrupt_weights"],
                              ["wrong md5"]),
    "stray argument": (["extra"], ["unexpected arguments"]),
    "not an integer": (["--iters", "many"], ["--iters"]),
    "unknown colour mode": (["--preserve_colors", "sepia"], ["preserve_colors"]),
    "blend per style": (["--style", "{tmp}/whole.jpg,{tmp}/whole.jpg", "--style_blend", "1"],
                        ["one weight per style image"]),
    "empty mask": (["--content_mask", "{tmp}/black.png"], ["marks no region"]),
    "missing mask": (["--content_mask", "{tmp}/nothing.png"], ["not found"]),
    "scales not numbers": (["--scales", "256,big"], ["--scales must be whole numbers"]),
    "too many octaves": (["--scales", "2"], ["smallest would be 24 px"]),
    "coarse scale too thin": (["--size", "96", "--scales", "40"], ["at 40 px", "at least 32 px"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_loses_nothing(existing_run, case):
    tmp, content, style, workdir = existing_run
    _bad_files(tmp)
    before = snapshot(workdir)
    overrides, expected = CASES[case]
    args = ["--content", content, "--style", style, "--workdir", workdir, *BASE]
    args += [a.format(tmp=tmp) for a in overrides]
    _assert_one_line_error(run_train(*args), *expected)
    assert snapshot(workdir) == before


def test_changed_settings_are_refused_with_the_reason(existing_run):
    tmp, content, style, workdir = existing_run
    before = snapshot(workdir)
    result = run_train("--content", content, "--style", style, "--workdir", workdir, *BASE,
                       "--tv_weight", "0.5")
    _assert_one_line_error(result, "tv_weight", "--overwrite")
    assert snapshot(workdir) == before


def test_missing_required_flags():
    _assert_one_line_error(run_train("--style", "x.jpg"), "--content and --style are required")


def test_auto_weights_offline_warns_once_and_records_random(existing_run, tmp_path):
    _, content, style, _ = existing_run
    workdir = str(tmp_path / "auto")
    result = run_train("--content", content, "--style", style, "--workdir", workdir,
                       "--weights", "auto", "--weights_dir", str(tmp_path / "w"),
                       "--size", "48", "--iters", "1", "--progress=false")
    assert result.returncode == 0, result.stderr
    warnings = [l for l in result.stderr.splitlines() if "using random weights" in l]
    assert len(warnings) == 1
    import json
    with open(os.path.join(workdir, "run.json")) as file:
        assert json.load(file)["weights"]["kind"] == "random"
