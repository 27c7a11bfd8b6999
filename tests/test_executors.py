"""Executors: a batch on Ray gives the pictures a local batch gives, and a worker killed
mid-pair is retried from the pair's last checkpoint."""

import functools
import os
import signal
import threading
import time

import numpy as np
import pytest

from tf_style import batch, images
from tf_style.batch_config import BatchConfig
from tf_style.config import TransferConfig
from tf_style.errors import TransferError
from tf_style.executors import LocalExecutor, RayExecutor, make_executor
from tf_style.testing import run_pair_killed_once, synthetic_image

pytestmark = pytest.mark.slow  # Ray

SETTINGS = dict(weights="random", size=48, iters=4, progress=False, scales=(1,),
                checkpoint_every=1)


def _folders(tmp_path):
    from PIL import Image
    photos = tmp_path / "photos"
    photos.mkdir()
    for seed, name in enumerate(("a", "b", "c")):
        Image.fromarray(synthetic_image(48, 56 + 8 * seed, seed + 1)).save(photos / f"{name}.png")
    style = tmp_path / "style.png"
    Image.fromarray(synthetic_image(64, 64, 7)).save(style)
    return str(photos), str(style)


def _add_clip(photos):
    """A 3-frame pan in the folder, when the [video] extra is there: a video is one task."""
    try:
        import av  # noqa: F401
        import cv2  # noqa: F401
    except ImportError:
        return False
    from tf_style.testing import panned_frames, write_clip
    smooth = images.resize(synthetic_image(12, 20, seed=9).astype(np.float32), (64, 48))
    write_clip(os.path.join(photos, "d.mkv"),
               panned_frames(images.to_uint8(smooth), count=3, height=48, width=56), fps=12)
    return True


def _kill_when_written(pid_file, killed):
    """Waits for the victim's process id, then SIGKILLs that Ray worker."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not os.path.exists(pid_file):
        time.sleep(0.2)
    if os.path.exists(pid_file):
        with open(pid_file) as file:
            pid = int(file.read())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)


def test_ray_batch_survives_a_killed_worker_and_equals_a_local_batch(tmp_path):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]'")
    photos, style = _folders(tmp_path)
    with_clip = _add_clip(photos)
    pairs = ["a-style", "b-style", "c-style"] + ["d-style"] * with_clip
    local = batch.run_batch(TransferConfig(content=photos, style=style,
                                           workdir=str(tmp_path / "local"), **SETTINGS))
    assert [r.status for r in local] == ["done"] * len(pairs)

    pid_file = str(tmp_path / "victim.pid")
    killed = []
    killer = threading.Thread(target=_kill_when_written, args=(pid_file, killed), daemon=True)
    killer.start()
    # TensorFlow's sums depend on its thread count: the tasks use this process's.
    executor = RayExecutor(task_cpus=1, local_cpus=2, threads=len(os.sched_getaffinity(0)))
    original_map = executor.map
    executor.map = lambda function, configs: original_map(
        functools.partial(run_pair_killed_once, victim="b-style", pid_file=pid_file), configs)
    try:
        on_ray = batch.run_batch(TransferConfig(content=photos, style=style,
                                                workdir=str(tmp_path / "ray"), **SETTINGS),
                                 executor)
    finally:
        ray.shutdown()
    killer.join(timeout=5)

    assert killed and killed[0] != os.getpid()  # a worker died, not this process
    assert [(r.name, r.status, r.steps) for r in on_ray[:3]] == [
        ("a-style", "done", 4), ("b-style", "done", 4), ("c-style", "done", 4)]
    assert [r.status for r in on_ray] == ["done"] * len(pairs)
    for name in ("a-style", "b-style", "c-style"):
        np.testing.assert_array_equal(
            images.load_image(str(tmp_path / "ray" / name / "output.png")),
            images.load_image(str(tmp_path / "local" / name / "output.png")))
    if with_clip:  # the video ran whole as one task: every frame as the local one
        from tf_style.run_directory import finished_frames
        on_ray_frames = finished_frames(str(tmp_path / "ray" / "d-style"), 3)
        local_frames = finished_frames(str(tmp_path / "local" / "d-style"), 3)
        assert len(on_ray_frames) == len(local_frames) == 3
        for got, want in zip(on_ray_frames, local_frames):
            np.testing.assert_array_equal(images.load_image(got), images.load_image(want))
        assert os.path.isfile(tmp_path / "ray" / "d-style" / "output.mp4")
    # The retry resumed from the killed try's checkpoint of step 1 (it was killed in step
    # 2's report, before step 2's checkpoint): its first step was step 2, not step 1.
    with open(pid_file + ".retry") as file:
        assert int(file.read()) == 2


def test_executor_from_settings_and_a_clear_line_without_ray(monkeypatch):
    assert isinstance(make_executor(BatchConfig()), LocalExecutor)
    import builtins
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(TransferError, match=r"pip install -e '\.\[ray\]'"):
        make_executor(BatchConfig(executor="ray"))
    with pytest.raises(ValueError, match="executor"):
        BatchConfig(executor="slurm")
