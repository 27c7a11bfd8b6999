"""Intermediate images: every N steps, the presented image, on disk."""

import os

import numpy as np

from fakes import FakeTransfer, report
from tf_style import images
from tf_style.callbacks import IntermediateImages


def test_writes_the_presented_image_every_n_steps_only(tmp_path):
    image = np.random.default_rng(0).uniform(0, 255, (6, 8, 3)).astype(np.float32)
    callback = IntermediateImages(str(tmp_path / "images"), every=3)
    transfer = FakeTransfer(image)
    for step in range(1, 8):
        callback.on_step_end(report(step, transfer, scale_end=7, presenter=lambda x: 255.0 - x))
    assert sorted(os.listdir(tmp_path / "images")) == ["step_000003.png", "step_000006.png"]
    written = images.load_image(str(tmp_path / "images" / "step_000006.png"))
    np.testing.assert_allclose(written, np.rint(255.0 - image), atol=0.5)
