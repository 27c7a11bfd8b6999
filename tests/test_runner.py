"""Whole runs: resume equals straight, TensorBoard output, run-directory safety, signals."""

import dataclasses
import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from conftest import ROOT, run_train
from tf_style.testing import snapshot, write_image_pair
from tf_style import TransferConfig, TransferError, images, run
from tf_style.config import DEFAULT_STYLE_LAYERS
from tf_style.callbacks import StepReport

SMALL = ["--weights", "random", "--size", "48", "--summary_every", "1", "--save_every", "3",
         "--checkpoint_every", "2", "--progress=false"]


def _checkpoint_image(workdir):
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    return reader.get_tensor("image/.ATTRIBUTES/VARIABLE_VALUE"), reader.get_tensor(
        "step/.ATTRIBUTES/VARIABLE_VALUE")


def _events(workdir):
    accumulator = event_accumulator.EventAccumulator(
        workdir, size_guidance={event_accumulator.TENSORS: 0, event_accumulator.IMAGES: 0})
    accumulator.Reload()
    return accumulator


@pytest.fixture(scope="module", params=["adam", "lbfgs"])
def resumed_and_straight(tmp_path_factory, request):
    """4 steps straight; 2 steps, then a new process for 2 more. Same flags, op determinism."""
    tmp = tmp_path_factory.mktemp("resume")
    content, style = write_image_pair(str(tmp))
    common = ["--content", content, "--style", style, "--deterministic", "--init", "noise",
              "--optimizer", request.param, *SMALL]
    straight = str(tmp / "straight")
    resumed = str(tmp / "resumed")
    results = [run_train(*common, "--workdir", straight, "--iters", "4"),
               run_train(*common, "--workdir", resumed, "--iters", "2"),
               run_train(*common, "--workdir", resumed, "--iters", "4")]
    for result in results:
        assert result.returncode == 0, result.stderr
    return straight, resumed, results[2].stderr


def test_resumed_run_equals_uninterrupted_run(resumed_and_straight):
    straight, resumed, resume_log = resumed_and_straight
    assert "Resumed from" in resume_log and "at step 2" in resume_log
    straight_image, straight_step = _checkpoint_image(straight)
    resumed_image, resumed_step = _checkpoint_image(resumed)
    assert straight_step == resumed_step == 4
    np.testing.assert_allclose(resumed_image, straight_image, atol=1e-3)
    # Steps 3-4 moved the image far more than that tolerance, so the comparison bites.
    step_2 = tf.train.load_checkpoint(os.path.join(straight, "checkpoints", "ckpt-2"))
    assert np.abs(step_2.get_tensor("image/.ATTRIBUTES/VARIABLE_VALUE") - straight_image).max() > 1


def test_tensorboard_steps_continue_without_repeats(resumed_and_straight):
    _, resumed, _ = resumed_and_straight
    steps = [event.step for event in _events(resumed).Tensors("loss/total")]
    assert steps == [1, 2, 3, 4]


def test_tensorboard_has_losses_per_layer_timing_image_and_graph(resumed_and_straight):
    straight, _, _ = resumed_and_straight
    accumulator = _events(straight)
    tags = accumulator.Tags()
    expected = {"loss/total", "loss/content", "loss/style", "loss/tv", "perf/seconds_per_step",
                "image"} | {f"loss/style/{name}" for name in DEFAULT_STYLE_LAYERS}
    assert expected <= set(tags["tensors"])
    assert tags["graph"] is True
    graph = accumulator.Graph()
    assert any(node.op == "Conv2D" for node in graph.node)
    last_total = accumulator.Tensors("loss/total")[-1]
    assert tf.make_ndarray(last_total.tensor_proto) > 0


def test_outputs_and_intermediate_images(resumed_and_straight):
    straight, _, _ = resumed_and_straight
    assert os.path.isfile(os.path.join(straight, "output.png"))
    assert sorted(os.listdir(os.path.join(straight, "images"))) == ["step_000003.png"]
    assert not glob.glob(os.path.join(straight, "**", ".tmp-*"), recursive=True)


def _config(image_files, tmp_path, **overrides):
    content, style = image_files
    settings = dict(content=content, style=style, weights="random", size=48, iters=3,
                    workdir=str(tmp_path / "run"), progress=False, checkpoint_every=2)
    settings.update(overrides)
    return TransferConfig(**settings)


def test_library_run_calls_back_every_step_and_finishes_a_complete_run(image_files, tmp_path):
    reports = []
    config = _config(image_files, tmp_path)
    image = run(config, callbacks=[reports.append])
    assert [r.step for r in reports] == [1, 2, 3]
    assert all(isinstance(r, StepReport) and r.losses["total"] > 0 for r in reports)
    assert image.shape == (36, 48, 3)
    # Rerunning a finished run takes no more steps and keeps its image.
    reports.clear()
    again = run(config, callbacks=[reports.append])
    assert reports == []
    np.testing.assert_array_equal(again, image)


def test_run_directory_of_another_run_is_refused_untouched(image_files, tmp_path):
    config = _config(image_files, tmp_path)
    run(config)
    before = snapshot(config.run_dir)
    changed = dataclasses.replace(config, style_weight=77.0)
    with pytest.raises(TransferError, match="style_weight.*--overwrite"):
        run(changed)
    assert snapshot(config.run_dir) == before
    # The same file name with other pixels is another input, too.
    content, _ = image_files
    from PIL import Image
    Image.new("RGB", (64, 48), (10, 200, 30)).save(content)
    with pytest.raises(TransferError, match="content_sha256"):
        run(config)
    assert snapshot(config.run_dir) == before


def test_overwrite_starts_over(image_files, tmp_path):
    config = _config(image_files, tmp_path)
    run(config)
    reports = []
    run(dataclasses.replace(config, style_weight=77.0, overwrite=True), callbacks=[reports.append])
    assert [r.step for r in reports] == [1, 2, 3]
    assert len(glob.glob(os.path.join(config.run_dir, "events.out.tfevents.*"))) == 1


def _start(args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_checkpoint(workdir, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")):
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError("no checkpoint appeared")


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_signal_writes_a_checkpoint_and_the_rerun_continues(image_files, tmp_path, signal_number):
    content, style = image_files
    workdir = str(tmp_path / "run")
    args = ["--content", content, "--style", style, "--workdir", workdir, *SMALL,
            "--checkpoint_every", "1000"]
    process = _start([*args, "--iters", "100000", "--checkpoint_every", "1"])
    _wait_for_checkpoint(workdir, process)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal_number
    assert "Traceback" not in stderr
    error_line = stderr.strip().splitlines()[-1]
    assert error_line.startswith("train.py: error: stopped by") and "rerun" in error_line
    _, stopped_at = _checkpoint_image(workdir)
    assert f"at step {stopped_at}" in error_line
    rerun = run_train(*args, "--iters", str(stopped_at + 2))
    assert rerun.returncode == 0, rerun.stderr
    assert f"at step {stopped_at}" in rerun.stderr
    assert _checkpoint_image(workdir)[1] == stopped_at + 2


def test_sigkill_at_any_moment_resumes_from_last_complete_checkpoint(image_files, tmp_path):
    content, style = image_files
    workdir = str(tmp_path / "run")
    args = ["--content", content, "--style", style, "--workdir", workdir, *SMALL]
    process = _start([*args, "--iters", "100000", "--checkpoint_every", "1"])
    _wait_for_checkpoint(workdir, process)
    time.sleep(0.37)  # somewhere inside a step or a checkpoint write
    process.kill()
    process.communicate()
    _, last_step = _checkpoint_image(workdir)
    rerun = run_train(*args, "--iters", str(last_step + 2))
    assert rerun.returncode == 0, rerun.stderr
    assert _checkpoint_image(workdir)[1] == last_step + 2


def test_style_scale_sizes_the_style_relative_to_the_content(image_files, tmp_path):
    from tf_style.inputs import prepare_inputs
    inputs = prepare_inputs(_config(image_files, tmp_path, size=64, style_scale=0.75))
    assert inputs.content_image.shape == (48, 64, 3)
    assert inputs.style_images[0].shape == (48, 48, 3)  # square style, longest side 0.75 * 64


def test_init_noise_ratio_mixes_seeded_noise_into_the_content(image_files, tmp_path):
    from tf_style.inputs import prepare_inputs
    plain = prepare_inputs(_config(image_files, tmp_path, init="content"))
    noise = prepare_inputs(_config(image_files, tmp_path, init="noise", seed=4))
    mixed = prepare_inputs(_config(image_files, tmp_path, init="content", init_noise_ratio=0.25, seed=4))
    np.testing.assert_allclose(mixed.initial_image,
                               0.75 * plain.initial_image + 0.25 * noise.initial_image, atol=1e-3)


def test_luminance_mode_returns_the_photos_colours(image_files, tmp_path):
    from tf_style import color
    from tf_style.inputs import prepare_inputs
    config = _config(image_files, tmp_path, preserve_colors="luminance")
    inputs = prepare_inputs(config)
    gray = inputs.style_images[0]
    np.testing.assert_allclose(gray[..., 0], gray[..., 2])  # the style is seen as luminance
    image = run(config)
    chroma = color.rgb_to_yiq(image)[..., 1:]
    content_chroma = color.rgb_to_yiq(inputs.original_content)[..., 1:]
    # Clipping to 0-255 can move a few saturated pixels; the colours are the photo's.
    assert np.median(np.abs(chroma - content_chroma)) < 1.0


def test_histogram_mode_recolours_the_style_to_the_photo(image_files, tmp_path):
    from PIL import Image
    from tf_style.inputs import prepare_inputs
    content, style = image_files
    red = np.asarray(Image.open(style)).astype(np.float32) * [1.0, 0.3, 0.3]
    Image.fromarray(red.astype(np.uint8)).save(style)
    inputs = prepare_inputs(_config(image_files, tmp_path, preserve_colors="histogram"))
    content_mean = inputs.original_content.reshape(-1, 3).mean(0)
    assert np.abs(inputs.style_images[0].reshape(-1, 3).mean(0) - content_mean).max() < 3
    assert np.abs(inputs.original_styles[0].reshape(-1, 3).mean(0) - content_mean).max() > 40


def test_gif_and_sheet(image_files, tmp_path):
    from PIL import Image
    config = _config(image_files, tmp_path, iters=5, save_every=2, gif=True, sheet=True)
    result = run(config)
    with Image.open(os.path.join(config.run_dir, "progress.gif")) as gif:
        assert gif.n_frames == 3 and gif.size == (48, 36)  # steps 2 and 4, then the result (5)
    with Image.open(os.path.join(config.run_dir, "sheet.png")) as sheet:
        # content 48 wide, style 36 wide (square at height 36), result 48 wide, two gaps of 8
        assert sheet.size == (48 + 36 + 48 + 2 * 8, 36)
        np.testing.assert_allclose(np.asarray(sheet)[:, -48:], np.rint(result), atol=1)


def test_changed_artistic_control_refuses_resume(image_files, tmp_path):
    config = _config(image_files, tmp_path)
    run(config)
    for change in (dict(preserve_colors="histogram"), dict(style_preset="coarse"),
                   dict(init_noise_ratio=0.5)):
        with pytest.raises(TransferError, match="--overwrite"):
            run(dataclasses.replace(config, **change))
    # Output-only controls may change.
    run(dataclasses.replace(config, sheet=True))


def test_masks_are_recorded_and_an_empty_mask_is_refused(image_files, tmp_path):
    from PIL import Image
    mask, empty = str(tmp_path / "mask.png"), str(tmp_path / "empty.png")
    Image.new("L", (64, 48), 255).save(mask)
    Image.new("L", (64, 48), 0).save(empty)
    config = _config(image_files, tmp_path, content_mask=(mask,))
    run(config)
    Image.new("L", (64, 48), 200).save(mask)  # an edited mask is another run
    with pytest.raises(TransferError, match="content_masks_sha256"):
        run(config)
    with pytest.raises(TransferError, match="marks no region"):
        run(dataclasses.replace(config, content_mask=(empty,), workdir=str(tmp_path / "other")))


def _stop_after(step_number):
    """A callback that sends this process SIGINT after `step_number`, as Ctrl-C would."""
    def callback(report):
        if report.step == step_number:
            os.kill(os.getpid(), signal.SIGINT)
    return callback


@pytest.mark.parametrize("optimizer, stop_step", [
    ("adam", 2),   # stopped exactly at the end of the coarse scale
    ("lbfgs", 2),
    ("lbfgs", 3),  # stopped inside the fine scale
])
def test_coarse_to_fine_resumes_across_a_scale_change(image_files, tmp_path, optimizer, stop_step):
    settings = dict(size=96, scales=(48,), iters=4, init="noise", optimizer=optimizer, deterministic=True,
                    summary_every=1, save_every=1, checkpoint_every=10)
    straight_config = _config(image_files, tmp_path, workdir=str(tmp_path / "straight"), **settings)
    resumed_config = _config(image_files, tmp_path, workdir=str(tmp_path / "resumed"), **settings)
    straight = run(straight_config)
    with pytest.raises(TransferError, match=f"at step {stop_step}"):
        run(resumed_config, callbacks=[_stop_after(stop_step)])
    resumed = run(resumed_config)
    np.testing.assert_allclose(resumed, straight, atol=1e-3)
    steps = [event.step for event in _events(resumed_config.run_dir).Tensors("loss/total")]
    assert steps == [1, 2, 3, 4]


def test_coarse_to_fine_shapes_and_head_start(image_files, tmp_path):
    losses = {}
    config = _config(image_files, tmp_path, size=96, scales=(2,), iters=8, init="noise",
                     save_every=1, optimizer="lbfgs")
    result = run(config, callbacks=[lambda report: losses.__setitem__(report.step, report.losses)])
    assert result.shape == (72, 96, 3)
    shapes = [images.load_image(path).shape for path in
              sorted(glob.glob(os.path.join(config.run_dir, "images", "*.png")))]
    assert shapes == [(36, 48, 3)] * 4 + [(72, 96, 3)] * 4
    reader = tf.train.load_checkpoint(os.path.join(config.run_dir, "checkpoints"))
    assert reader.get_tensor("scale/.ATTRIBUTES/VARIABLE_VALUE") == 1
    # The fine scale starts from the upsampled coarse result, far better than the noise
    # a single-scale run starts from at that size.
    single = {}
    run(dataclasses.replace(config, scales=(), iters=1, workdir=str(tmp_path / "single")),
        callbacks=[lambda report: single.__setitem__(report.step, report.losses)])
    assert losses[5]["total"] < 0.5 * single[1]["total"]
