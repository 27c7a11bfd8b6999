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


def test_wrapped_sides_round_to_multiples_of_sixteen_and_others_stay():
    from tf_style.inputs import wrapped_size
    assert wrapped_size((300, 407), (True, True)) == (400, 304)
    assert wrapped_size((300, 407), (False, True)) == (400, 300)
    assert wrapped_size((300, 407), (True, False)) == (407, 304)
    assert wrapped_size((20, 407), (True, False)) == (407, 32)  # never below VGG's 32 px


def test_a_texture_is_the_requested_size_at_every_scale_and_starts_from_noise(tmp_path):
    from tf_style import TransferConfig
    from tf_style.inputs import TEXTURE_GROUND, prepare_inputs
    from tf_style.testing import write_image_pair
    _, style = write_image_pair(str(tmp_path))
    config = TransferConfig(style=style, texture_size="200x100", seamless="both", seed=4)
    full = prepare_inputs(config)
    assert full.content_image.shape == (96, 208, 3)  # 200x100, wrapped sides to 16s
    assert (full.content_image == TEXTURE_GROUND).all() and full.alpha is None
    noise = np.random.default_rng(4).uniform(0.0, 255.0, full.content_image.shape)
    np.testing.assert_allclose(full.initial_image, noise, atol=1e-4)
    assert prepare_inputs(config, size=100).content_image.shape == (48, 96, 3)
    assert max(full.style_images[0].shape[:2]) == 208  # the style scales with the texture
