"""`tf-style serve --executor ray`: a run as a Ray task, its events and its stop relayed."""

import os

import pytest

pytestmark = pytest.mark.slow  # Ray


def test_a_run_on_ray_reports_each_step_and_stops_with_a_checkpoint(image_files, tmp_path):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    from tf_style.web.ray_launcher import RayLauncher

    content, style = image_files
    workdir = str(tmp_path / "run")
    request = {"mode": "run", "config": {
        "content": content, "style": [style], "size": 64, "iters": 100000, "weights": "random",
        "workdir": workdir, "progress": False}}
    launcher = RayLauncher()
    try:
        process = launcher(request, str(tmp_path / "web.log"))
        events = []
        for event in process.events():
            events.append(event)
            if event.type == "step" and event.step == 2:
                process.stop()
        code = process.wait()
    finally:
        ray.shutdown()
    kinds = [event.type for event in events]
    assert kinds[0] == "plan" and kinds[-1] == "stopped" and code == 130
    steps = [event.step for event in events if event.type == "step"]
    assert steps == list(range(1, len(steps) + 1))
    assert events[-1].step == steps[-1]  # stopped after the last step it reported
    assert os.path.isfile(os.path.join(workdir, "checkpoints", "checkpoint"))
