"""A scale's start from a coarser result: the result, upsampled, with the detail of the
scale's own start image that the coarser size cannot hold."""

import numpy as np

from tf_style import images
from tf_style.inputs import PreparedInputs
from tf_style.testing import synthetic_image


def _inputs(start):
    return PreparedInputs.from_arrays(np.zeros_like(start), [np.zeros_like(start)], start)


def test_a_coarse_scale_that_changed_nothing_hands_on_the_start_image_itself():
    start = synthetic_image(64, 96, seed=3).astype(np.float32) * 0.8 + 25  # away from 0/255
    coarse = images.resize(start, (48, 32))  # what the coarser scale started from
    np.testing.assert_allclose(_inputs(start).upsampled(coarse), start, atol=1e-3)


def test_the_coarse_result_decides_the_coarse_picture_and_a_flat_start_adds_no_detail():
    rng = np.random.default_rng(0)
    coarse = rng.uniform(40, 200, (32, 48, 3)).astype(np.float32)
    flat = np.full((64, 96, 3), 128.0, np.float32)
    np.testing.assert_allclose(_inputs(flat).upsampled(coarse), images.resize(coarse, (96, 64)),
                               atol=1e-3)
    # A start that is all detail (noise) adds it: the photo's fine edges, by default.
    start = rng.uniform(40, 200, (64, 96, 3)).astype(np.float32)
    assert np.abs(_inputs(start).upsampled(coarse) - images.resize(coarse, (96, 64))).mean() > 5
    # Without the detail (a noise start: its fine band is no information), the plain resize.
    np.testing.assert_allclose(_inputs(start).upsampled(coarse, with_detail=False),
                               images.resize(coarse, (96, 64)))
