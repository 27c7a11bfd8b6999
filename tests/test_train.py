"""train.py as a user meets it: flags made from the settings, one clear line and exit
status 2 for bad input, help that exits 0, and a terminal that shows only our lines.

Flag errors are tested in-process; a few subprocess runs check the command's contract.
Run-level errors (files, weights, run directories) are tested in test_runner.py.
"""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from absl import flags

import train
from conftest import ROOT, run_train
from tf_style import run_plan
from tf_style.batch_config import BatchConfig
from tf_style.config import TransferConfig
from tf_style.testing import write_image_pair

BASE = ["--weights", "random", "--size", "48", "--iters", "2", "--progress=false"]
OUR_LOG_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+ +\d+ (?P<file>[\w.]+):\d+\] ")


@pytest.fixture(autouse=True)
def program_name(monkeypatch):
    """Error lines start with the program's name: here, as if run as train.py."""
    monkeypatch.setattr(sys, "argv", ["train.py"])


def _parse(capsys, *argv):
    """Parses `argv` as train.py does; returns (config or None, exit status, stderr)."""
    flags.FLAGS.unparse_flags()
    try:
        train._parse_flags(["train.py", *argv])
        return train.config_from_flags(), 0, capsys.readouterr().err
    except SystemExit as exit:
        return None, exit.code, capsys.readouterr().err
    finally:
        flags.FLAGS.unparse_flags()


# Settings whose other value cannot be derived from their default (None, tuples), and the
# value they must then hold.
OTHER_VALUES = {
    "style_blend": (["--style", "a.jpg,b.jpg", "--style_blend", "3,1"], (3.0, 1.0)),
    "content_mask": (["--content_mask", "m.png"], ("m.png",)),
    "style_mask": (["--style_mask", "m.png"], ("m.png",)),
    "content_layers": (["--content_layers", "block3_conv1"], ("block3_conv1",)),
    "style_layers": (["--style_layers", "block1_conv1,block2_conv1"],
                     ("block1_conv1", "block2_conv1")),
    "style_layer_weights": (["--style_layer_weights", "1,2,3,4,5"], (1.0, 2.0, 3.0, 4.0, 5.0)),
    "style_weight": (["--style_weight", "7.5"], 7.5),
    "lr": (["--lr", "2.5"], 2.5),
    "scales": (["--scales", "128,512"], (128, 512)),
    "tile_size": (["--tile_size", "256"], 256),
    "memory_limit": (["--memory_limit", "3.5"], 3.5),
    "fps": (["--fps", "12"], 12.0),
    "frame_iters": (["--frame_iters", "5"], 5),
    "workdir": (["--workdir", "runs/x"], "runs/x"),
    "output": (["--output", "out.png"], "out.png"),
}


def _other_value(field):
    """Flags that give `field` a value other than its default, and that value."""
    if field.name in OTHER_VALUES:
        return OTHER_VALUES[field.name]
    default, choices = field.default, field.metadata["choices"]
    if choices:
        value = next(choice for choice in choices if choice != default)
    elif isinstance(default, bool):
        return [f"--{field.name}={str(not default).lower()}"], not default
    elif isinstance(default, (int, float)):
        value = default * 2 + 16 if isinstance(default, int) else default * 2 + 0.25
    else:
        value = default + "_x"
    return [f"--{field.name}", str(value)], value


def test_every_setting_is_a_flag_that_reaches_the_config(capsys):
    config, status, _ = _parse(capsys, "--content", "c.jpg", "--style", "s.jpg")
    assert status == 0
    assert config == TransferConfig(content="c.jpg", style="s.jpg")  # every default
    for field in dataclasses.fields(TransferConfig):
        if field.name in ("content", "style", "texture_size"):  # given here; a texture below
            continue
        arguments, expected = _other_value(field)
        config, status, error = _parse(capsys, "--content", "c.jpg", "--style", "s.jpg",
                                       *arguments)
        assert status == 0, (field.name, error)
        assert getattr(config, field.name) == expected != field.default, field.name


def test_flags_reach_the_settings_with_their_types(capsys):
    config, status, _ = _parse(
        capsys, "--content", "c.jpg", "--style", "a.jpg,b.jpg", "--style_blend", "3,1",
        "--content_mask", "m.png,n.png", "--scales", "128,256", "--iters", "40",
        "--tv_weight", "0", "--preserve_colors", "histogram", "--nogif", "--sheet")
    assert status == 0
    assert config.style == ("a.jpg", "b.jpg") and config.style_blend == (3.0, 1.0)
    assert config.content_mask == ("m.png", "n.png") and config.scales == (128, 256)
    assert (config.iters, config.tv_weight, config.preserve_colors) == (40, 0.0, "histogram")
    assert config.gif is False and config.sheet is True


def test_batch_flags_reach_the_batch_settings(capsys):
    flags.FLAGS.unparse_flags()
    try:
        train._parse_flags(["train.py", "--content", "c.jpg", "--style", "s.jpg", "--executor",
                            "ray", "--ray_address", "ray://head:10001", "--task_cpus", "4"])
        batch_config = train.batch_config_from_flags()
    finally:
        flags.FLAGS.unparse_flags()
    assert batch_config == BatchConfig(executor="ray", ray_address="ray://head:10001",
                                       task_cpus=4.0, task_gpus=0.0)
    for field in dataclasses.fields(BatchConfig):
        assert flags.FLAGS[field.name].help.endswith(field.metadata["help"])


FLAG_ERRORS = {
    "unknown layer": (["--style_layers", "block1_conv1,block6_conv9"], ["block6_conv9"]),
    "mismatched lengths": (["--style_layer_weights", "1,2"], ["one weight per style layer"]),
    "not numbers": (["--style_layer_weights", "1,x,1,1,1"], ["--style_layer_weights must be numbers"]),
    "negative weight": (["--style_weight", "-1"], ["style_weight"]),
    "zero iters": (["--iters", "0"], ["iters"]),
    "a billion iters": (["--iters", "1000000000"], ["at most 100,000 steps"]),
    "negative seed": (["--seed", "-1"], ["`seed` must be an integer from 0"]),
    "seed past 2**32": (["--seed", str(2**64)], ["`seed` must be an integer from 0"]),
    "zero size": (["--size", "0"], ["size"]),
    "stray argument": (["extra"], ["unexpected arguments"]),
    "not an integer": (["--iters", "many"], ["--iters"]),
    "unknown colour mode": (["--preserve_colors", "sepia"], ["preserve_colors"]),
    "blend per style": (["--style", "a.jpg,b.jpg", "--style_blend", "1"],
                        ["one weight per style image"]),
    "mask per style": (["--style", "a.jpg,b.jpg", "--content_mask", "m.png"],
                       ["`content_mask` needs one mask per style image"]),
    "scales not numbers": (["--scales", "256,big"], ["--scales must be whole numbers"]),
    "too many octaves": (["--scales", "2"], ["smallest would be 24 px"]),
    "unknown flag": (["--colour", "x"], ["colour"]),
    "unknown executor": (["--executor", "slurm"], ["--executor"]),
    "no cpus per task": (["--task_cpus", "0"], ["task_cpus"]),
    "unknown precision": (["--precision", "half"], ["--precision"]),
    "unknown device": (["--device", "tpu"], ["--device"]),
}


@pytest.mark.parametrize("case", sorted(FLAG_ERRORS))
def test_bad_flags_get_one_line_and_exit_status_2(capsys, case):
    overrides, expected = FLAG_ERRORS[case]
    argv = ["--content", "c.jpg", "--style", "s.jpg", *BASE, *overrides]
    flags.FLAGS.unparse_flags()
    try:
        train._parse_flags(["train.py", *argv])
        arguments = [a for a in argv if a == "extra"]
        train.main(["train.py", *arguments])  # stops before any file is read
        status = 0
    except SystemExit as exit:
        status = exit.code
    finally:
        flags.FLAGS.unparse_flags()
    error = capsys.readouterr().err
    assert status == 2
    lines = error.splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: "), error
    for text in expected:
        assert text in lines[0]


@pytest.mark.parametrize("signal_number, status", [(2, 130), (15, 143)])
def test_a_stop_by_signal_exits_with_the_conventional_status(capsys, monkeypatch, signal_number,
                                                             status):
    import tf_style
    from tf_style.signals import Interrupted

    def stopped(config):
        raise Interrupted(signal_number, step=7)

    monkeypatch.setattr(tf_style, "run", stopped)
    monkeypatch.setattr(train, "_import_tf_style", lambda quiet: tf_style)
    flags.FLAGS.unparse_flags()
    try:
        train._parse_flags(["train.py", "--content", "c.jpg", "--style", "s.jpg"])
        with pytest.raises(SystemExit) as exit:
            train.main(["train.py"])
    finally:
        flags.FLAGS.unparse_flags()
    assert exit.value.code == status
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "stopped by" in lines[0] and "at step 7" in lines[0]


def test_missing_required_flags(capsys):
    _, status, error = _parse(capsys, "--style", "x.jpg")
    assert status == 2 and "--content and --style are required" in error
    assert "--texture_size" in error
    _, status, error = _parse(capsys, "--texture_size", "64x64")
    assert status == 2 and "--style are required" in error


def test_a_texture_takes_the_painting_and_a_size_instead_of_a_photo(capsys):
    config, status, _ = _parse(capsys, "--style", "s.jpg", "--texture_size", "300X200",
                               "--seamless", "both")
    assert status == 0
    assert (config.content, config.texture_size, config.texture_shape) == ("", "300x200",
                                                                          (200, 300))
    assert config.size == 300 and config.init == "noise" and config.wrap_axes == (True, True)
    _, status, error = _parse(capsys, "--style", "s.jpg", "--texture_size", "300")
    assert status == 2 and "WIDTHxHEIGHT" in error and "'300'" in error


# The command's contract, in real processes.

def _assert_one_line_error(result, *expected, program="train.py"):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{program}: error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def test_a_bad_file_is_one_line_exit_2_and_no_tensorflow_chatter(tmp_path):
    content, style = write_image_pair(str(tmp_path))
    result = run_train("--content", str(tmp_path / "missing.jpg"), "--style", style,
                       "--workdir", str(tmp_path / "run"), *BASE)
    _assert_one_line_error(result, "not found", "missing.jpg")
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize("help_flag", ["--help", "-h", "--helpfull"])
def test_help_exits_0_and_lists_our_flags(help_flag):
    result = run_train(help_flag)
    assert result.returncode == 0, result.stderr
    assert "--content_mask" in result.stdout and "--style_weight" in result.stdout
    assert ("--verbosity:" in result.stdout) == (help_flag == "--helpfull")


def test_console_command_is_train_py():
    command = os.path.join(os.path.dirname(sys.executable), "tf-style")
    if not os.path.exists(command):
        pytest.skip("tf-style is not installed (pip install -e . installs it)")
    result = subprocess.run([command, "--content", "c.jpg", "--style", "s.jpg", "--iters", "0"],
                            capture_output=True, text=True, timeout=60)
    _assert_one_line_error(result, "`iters` must be a positive integer", program="tf-style")
    assert "--style_weight" in subprocess.run([command, "--help"], capture_output=True,
                                              text=True, timeout=60).stdout


@pytest.mark.slow
def test_a_run_shows_only_our_lines_and_auto_weights_fall_back_once(tmp_path):
    content, style = write_image_pair(str(tmp_path))
    workdir = str(tmp_path / "auto")
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), "--content", content, "--style", style,
         "--workdir", workdir, "--weights", "auto", "--weights_dir", str(tmp_path / "w"),
         "--size", "48", "--iters", "2", "--checkpoint_every", "1", "--progress=false"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    ours = {name for name in os.listdir(os.path.join(ROOT, "tf_style")) if name.endswith(".py")}
    ours |= {"train.py"} | set(os.listdir(os.path.join(ROOT, "tf_style", "callbacks")))
    for line in result.stderr.splitlines():
        match = OUR_LOG_LINE.match(line)
        assert match and match.group("file") in ours, f"not one of our lines: {line}"
    assert "Wrote" in result.stderr  # our lines do get through
    warnings = [line for line in result.stderr.splitlines() if "using random weights" in line]
    assert len(warnings) == 1
    with open(os.path.join(workdir, "run.json")) as file:
        assert json.load(file)["weights"]["kind"] == "random"


def test_verbosity_shows_tensorflows_lines_again(tmp_path):
    content, style = write_image_pair(str(tmp_path))
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), "--content", str(tmp_path / "no.jpg"),
         "--style", style, *BASE, "-v", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("train.py: error: image file not found")
    assert len(lines) > 1 and not all(OUR_LOG_LINE.match(line) for line in lines[:-1])


def _start(*args):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("signal_number, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_starting_is_one_line_with_the_conventional_status(tmp_path, signal_number,
                                                                         status):
    content, style = write_image_pair(str(tmp_path))
    workdir = tmp_path / "run"
    process = _start("--content", content, "--style", style, "--workdir", str(workdir), *BASE)
    time.sleep(0.8)  # past Python's start, inside TensorFlow's import (about 2 s here)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "stopped by" in lines[0] and "while starting" in lines[0], stderr
    assert not workdir.exists()


@pytest.mark.slow
def test_a_second_process_on_a_run_directory_in_use_is_refused(tmp_path):
    content, style = write_image_pair(str(tmp_path))
    workdir = tmp_path / "run"
    args = ["--content", content, "--style", style, "--workdir", str(workdir), *BASE,
            "--iters", "100000", "--convergence_tolerance", "0", "--checkpoint_every", "1"]
    first = _start(*args)
    try:
        deadline = time.monotonic() + 120
        while not (workdir / "checkpoints" / "checkpoint").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.2)
        record = (workdir / "run.json").read_bytes()
        second = run_train(*args, "--overwrite")
        _assert_one_line_error(second, f"is in use by process {first.pid}")
        assert (workdir / "run.json").read_bytes() == record
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 143


@pytest.mark.parametrize("kind", ["bomb", "fifo", "nan"])
def test_hostile_files_through_the_command_are_one_line_and_exit_2(tmp_path, kind):
    from PIL import Image
    from tf_style import testing
    content, style = write_image_pair(str(tmp_path))
    hostile = str(tmp_path / {"bomb": "bomb.png", "fifo": "pipe.jpg", "nan": "nan.tif"}[kind])
    if kind == "bomb":
        with open(hostile, "wb") as file:
            file.write(testing.png_declaring(100_000, 100_000))
    elif kind == "fifo":
        os.mkfifo(hostile)
    else:
        pixels = np.full((48, 64), 0.5, np.float32)
        pixels[3, 4] = np.nan
        Image.fromarray(pixels, mode="F").save(hostile)
    result = run_train("--content", hostile, "--style", style, "--workdir", str(tmp_path / "r"),
                       *BASE, timeout=120)
    expected = {"bomb": "--max_image_megapixels", "fifo": "FIFO", "nan": "not numbers"}[kind]
    _assert_one_line_error(result, expected)
    assert not (tmp_path / "r").exists()


def test_dry_run_prints_the_plan_and_touches_nothing(capsys, tmp_path):
    content, style = write_image_pair(str(tmp_path))
    flags.FLAGS.unparse_flags()
    try:
        train._parse_flags(["train.py", "--content", content, "--style", style, "--size", "1024",
                            "--dry_run", "--memory_limit", "30", "--workdir", str(tmp_path / "run"),
                            "--weights_dir", str(tmp_path / "weights")])
        train.main(["train.py"])
    finally:
        flags.FLAGS.unparse_flags()
    network, *output = capsys.readouterr().out.splitlines()
    # No ImageNet file in --weights_dir: the run would try to download it.
    assert network.startswith("network VGG19; weights auto: ImageNet's, which the run downloads")
    assert "defaults for trained features (style weight 10)" in network
    assert network.endswith("defaults for random features (style weight 1000)")
    assert output[0].startswith("device CPU ")
    assert output[1].startswith("precision ")  # auto's choice: see the next test
    assert output[2].startswith("memory limit 30.0 GB (--memory_limit); estimates measured")
    assert output[3].startswith("scale 1/3: 256x192 px, whole image, est. peak ")
    assert output[4].startswith("scale 2/3: 512x384 px, whole image, est. peak ")
    assert output[5].startswith("scale 3/3: 1024x768 px, whole image, est. peak ")
    # Each scale's time is its expected steps at its speed; the run's, their sum and the start.
    scale_seconds = []
    for line, end in zip(output[3:6], (166, 333, 500)):
        speed, steps, minutes, seconds = re.search(
            r"est\. ([0-9.]+) s/step, ~(\d+) steps in (\d+):(\d+), until converged or step "
            + str(end) + "$", line).groups()
        expected_steps = run_plan.FIRST_SCALE_STEPS if end == 166 else run_plan.LATER_SCALE_STEPS
        assert int(steps) == expected_steps
        scale_seconds.append(60 * int(minutes) + int(seconds))
        expected = expected_steps * float(speed) + run_plan.SCALE_SECONDS  # speed: 3 significant digits
        assert abs(scale_seconds[-1] - expected) <= 0.5 + expected_steps / 200 * float(speed)
    minutes, seconds = re.search(r"est\. time (\d+):(\d+)$", output[6]).groups()
    total = 60 * int(minutes) + int(seconds)
    assert abs(total - run_plan.FIXED_SECONDS - sum(scale_seconds)) <= 2
    assert output[6].startswith("est. peak memory ")
    assert not os.path.exists(tmp_path / "run")


def _dry_run(capsys, *argv):
    flags.FLAGS.unparse_flags()
    try:
        train._parse_flags(["train.py", *argv, "--dry_run"])
        train.main(["train.py"])
    finally:
        flags.FLAGS.unparse_flags()
    return capsys.readouterr().out.splitlines()[1:]  # after the network's line


def test_dry_run_names_the_model_the_weights_and_the_defaults_they_bring(capsys, tmp_path):
    content, style = write_image_pair(str(tmp_path))
    flags.FLAGS.unparse_flags()
    try:
        train._parse_flags(["train.py", "--content", content, "--style", style, "--model",
                            "vgg16", "--weights", "random", "--dry_run", "--style_loss", "w2"])
        train.main(["train.py"])
    finally:
        flags.FLAGS.unparse_flags()
    network = capsys.readouterr().out.splitlines()[0]
    assert network == ("network VGG16; random He-normal weights (seed 0); defaults for random "
                       "features (style weight 100)")


def test_dry_run_names_the_device_and_the_precision_auto_picks(capsys, tmp_path):
    from tf_style import devices
    content, style = write_image_pair(str(tmp_path))
    output = _dry_run(capsys, "--content", content, "--style", style)  # auto: the default
    cpu = devices.cpu_device()
    assert output[0] == f"device {cpu.describe()}"
    expected = "bfloat16" if cpu.prefers_bfloat16 else "float32"
    assert output[1].startswith(f"precision {expected}")


def test_dry_run_on_a_fake_2_gb_gpu_tiles_3840_px_to_fit_it(capsys, tmp_path, monkeypatch):
    from PIL import Image
    from tf_style import devices, machine_memory, memory
    from tf_style.testing import synthetic_image
    content = str(tmp_path / "wide.png")
    Image.fromarray(synthetic_image(216, 384, seed=1)).save(content)
    _, style = write_image_pair(str(tmp_path))
    gpu = devices.Device("gpu", "Fake", machine_memory.FixedMemory(2e9, "a fake 2 GB GPU"), True,
                         (8, 6))
    monkeypatch.setattr(devices, "find_device", lambda requested: gpu)
    monkeypatch.setattr(devices, "configure", lambda device: None)
    output = _dry_run(capsys, "--content", content, "--style", style, "--size", "3840",
                      "--precision", "auto")
    assert output[:2] == ["device GPU Fake (compute capability 8.6)",
                          "precision bfloat16; statistics, losses and the image in float32"]
    assert output[2].startswith("memory limit 2.0 GB (a fake 2 GB GPU); estimates from the "
                                "layer shapes")
    finest = output[-2]
    assert finest.startswith("scale 4/4: 3840x2160 px, ") and " tiles of " in finest
    peak = float(re.search(r"est. peak ([\d.]+) GB", finest).group(1))
    assert peak * memory.ESTIMATE_ALLOWANCE <= 2.05  # rounded to 0.1 GB in the line
    assert "GB of image-sized state in the machine's memory" in finest


@pytest.mark.parametrize("flag, value, expected", [
    ("--precision", "float16", "float16 needs a GPU"),
    ("--device", "gpu", "TensorFlow sees no GPU")])
def test_a_device_or_precision_this_machine_lacks_is_one_line_and_exit_2(tmp_path, flag, value,
                                                                         expected):
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    content, style = write_image_pair(str(tmp_path))
    result = run_train("--content", content, "--style", style, "--workdir", str(tmp_path / "run"),
                       *BASE, flag, value)
    _assert_one_line_error(result, expected)
    assert not os.path.exists(tmp_path / "run")


def test_a_startup_signal_swallowed_by_a_library_still_stops_the_run(capsys, monkeypatch):
    import tf_style
    from tf_style import signals
    startup = signals.StartupStop()

    def import_that_swallows(quiet):
        try:  # as some libraries do around optional imports
            startup(signal.SIGTERM, None)
        except Exception:  # noqa: BLE001
            pass
        return tf_style

    ran = []
    monkeypatch.setattr(train, "_import_tf_style", import_that_swallows)
    monkeypatch.setattr(tf_style, "run", ran.append)
    flags.FLAGS.unparse_flags()
    try:
        train._parse_flags(["train.py", "--content", "c.jpg", "--style", "s.jpg"])
        with pytest.raises(SystemExit) as exit:
            train.main(["train.py"], startup=startup)
    finally:
        flags.FLAGS.unparse_flags()
    assert exit.value.code == 143 and ran == []
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "stopped by SIGTERM while starting" in lines[0]
