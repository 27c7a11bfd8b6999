"""Optical flow, warping, reliability masks (Ruder et al.) and the flicker metric, against
flows and shifts built by hand in NumPy."""

import numpy as np
import pytest

pytest.importorskip("cv2", reason="the [video] extra (opencv-python-headless) is not installed")

from tf_style import flow
from tf_style.testing import synthetic_image


def _textured(height, width, seed=0):
    """Smooth random texture that optical flow can lock on to (RGB 0-255 float32)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (height // 4, width // 4, 3)).astype(np.float32)
    import cv2
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 255)


def test_warp_by_a_whole_pixel_flow_is_a_shift():
    image = synthetic_image(40, 50, seed=3).astype(np.float32)
    shifted = np.full((40, 50, 2), (3.0, -2.0), np.float32)  # sample at x + 3, y - 2
    warped = flow.warp(image, shifted)
    # Inside the frame (where p + flow stays in it) pixel (y, x) is image[y - 2, x + 3].
    np.testing.assert_array_equal(warped[2:, :-3], image[:-2, 3:])


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_of_a_shifted_picture_is_the_shift(method):
    picture = _textured(120, 160)
    previous, current = picture[10:90, 10:130], picture[12:92, 7:127]  # moved by (+3, -2)
    backward = flow.optical_flow(current, previous, method)
    # current(p) = previous(p + (-3, +2)): the camera moved right 3 and up 2.
    median = np.median(backward[16:-16, 16:-16].reshape(-1, 2), axis=0)
    np.testing.assert_allclose(median, (-3.0, 2.0), atol=0.25)


def test_reliable_marks_disocclusion_motion_boundaries_and_leaving_the_frame():
    height, width = 60, 80
    # A square at columns 30..49 (frame i-1) moves 6 px right to 36..55 (frame i); the
    # background stands still.
    backward = np.zeros((height, width, 2), np.float32)
    backward[20:40, 36:56, 0] = -6.0  # frame i's square came from 6 px to the left
    forward = np.zeros((height, width, 2), np.float32)
    forward[20:40, 30:50, 0] = 6.0
    mask = flow.reliable(backward, forward)

    # Revealed background (columns 30..35 of frame i): it was under the square in frame
    # i-1, so going forward from there does not come back. Not reliable.
    assert mask[22:38, 31:35].max() == 0
    # The square's inside and the still background far from it: reliable.
    assert mask[24:36, 40:52].min() == 1
    assert mask[:10].min() == 1 and mask[50:].min() == 1 and mask[:, :20].min() == 1
    # The square's right edge is a motion boundary.
    assert mask[25:35, 55].max() == 0

    # A flow that leads out of the frame is not reliable there.
    outward = np.zeros((height, width, 2), np.float32)
    outward[..., 0] = 5.0
    out_mask = flow.reliable(outward, -outward)
    assert out_mask[:, -5:].max() == 0 and out_mask[:, :-6].min() == 1


def test_frame_flicker_is_zero_for_a_warp_and_the_squared_change_on_reliable_pixels():
    picture = _textured(40, 48)
    backward = np.zeros((40, 48, 2), np.float32)
    backward[..., 0] = 2.0
    mask = np.ones((40, 48), np.float32)
    mask[:, :10] = 0
    motion = flow.Motion(backward, mask)
    previous = picture
    assert flow.frame_flicker(motion.carry(previous), previous, motion) == 0.0
    changed = motion.carry(previous)
    changed[:, 10:] += 10.0  # every reliable pixel 10 grey levels off: 100
    changed[:, :10] += 50.0  # unreliable ones do not count
    assert flow.frame_flicker(changed, previous, motion) == pytest.approx(100.0, rel=1e-5)


def test_flicker_of_a_still_clip_is_zero_and_of_noise_is_not():
    picture = _textured(48, 64)
    still = [picture] * 3
    assert flow.flicker(still, still) == pytest.approx(0.0, abs=1e-6)
    rng = np.random.default_rng(0)
    noisy = [np.clip(picture + rng.normal(0, 10, picture.shape), 0, 255) for _ in range(3)]
    # Independent noise of sd 10 in two frames: expected squared difference 2 * 100.
    assert flow.flicker(noisy, still) == pytest.approx(200.0, rel=0.2)
