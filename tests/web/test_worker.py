"""The worker: a run's events as the page gets them, and a failure as one line."""

import base64
import io
import os

import numpy as np
from PIL import Image

from tf_style.web import worker


def run_fields(content, style, workdir, **settings):
    return {"content": content, "style": [style], "size": 64, "iters": 3, "weights": "random",
            "workdir": workdir, "progress": False, **settings}


def test_each_step_sends_the_image_the_run_saves(image_files, tmp_path):
    content, style = image_files
    workdir = str(tmp_path / "run")
    events = []
    code = worker.serve_request(
        {"mode": "run", "config": run_fields(content, style, workdir, save_every=1)},
        events.append)
    assert code == 0
    kinds = [event.type for event in events]
    assert kinds == ["plan", "step", "step", "step", "finished"]
    assert "est. peak" in events[0].text
    saved = {step: np.asarray(Image.open(os.path.join(workdir, "images", f"step_{step:06d}.png")),
                              np.float32) for step in (1, 2, 3)}
    # The first step included tracing the step: no speed and no time left from it; the
    # speed after it is of the steps since (their mean is under their sum).
    assert events[1].seconds_per_step is None and events[1].eta_seconds is None
    assert 0 < events[3].seconds_per_step <= events[3].time - events[1].time
    for event in events[1:4]:
        assert event.iters == 3 and 0 <= event.fraction <= 1
        assert event is events[1] or event.eta_seconds >= 0
        header, data = event.image.split(",", 1)
        assert header == "data:image/jpeg;base64"
        sent = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))), np.float32)
        assert sent.shape == (48, 64, 3)
        distances = {step: np.abs(sent - image).mean() for step, image in saved.items()}
        assert min(distances, key=distances.get) == event.step
        # The same picture as PIL's JPEG (quality 90, 4:4:4) of the saved step.
        buffer = io.BytesIO()
        Image.fromarray(saved[event.step].astype(np.uint8)).save(buffer, format="JPEG",
                                                                 quality=90, subsampling=0)
        assert np.abs(sent - np.asarray(Image.open(buffer), np.float32)).mean() < 0.5
    assert [event.step for event in events[1:4]] == [1, 2, 3]
    assert events[-1].output == os.path.join(workdir, "output.png")


def test_a_run_that_fails_says_why_in_one_line(image_files, tmp_path):
    content, _ = image_files
    missing = str(tmp_path / "gone.png")
    events = []
    code = worker.serve_request(
        {"mode": "run", "config": run_fields(content, missing, str(tmp_path / "run"))},
        events.append)
    assert code == 2
    (event,) = events
    assert event.type == "failed" and missing in event.message
    assert "\n" not in event.message
    assert not os.path.exists(tmp_path / "run")


def test_settings_the_config_refuses_fail_before_tensorflow_is_asked(tmp_path):
    events = []
    code = worker.serve_request({"mode": "plan", "config": {"content": "a.png", "style": ["b.png"],
                                                            "size": 4}}, events.append)
    assert code == 2 and events[0].type == "failed" and "size" in events[0].message
