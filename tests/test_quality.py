"""The picture-quality measure (no network) behaves as a measure should."""

import numpy as np
import pytest

from tf_style import quality


def _texture(height, width, seed):
    """A painting-like texture: short straight strokes of a few colours at random angles,
    over a wash, with sharp edges (not sinusoids, which a blur would only scale)."""
    rng = np.random.default_rng(seed)
    palette = rng.uniform(0, 255, (5, 3))
    image = np.broadcast_to(palette[0], (height, width, 3)).copy()
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    for _ in range(height * width // 40):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        angle, length, thickness = rng.uniform(0, np.pi), rng.uniform(4, 14), rng.uniform(1, 3)
        along = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
        across = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
        stroke = (np.abs(along) < length) & (np.abs(across) < thickness)
        image[stroke] = palette[rng.integers(1, 5)]
    return image


def _blocks_shuffled(image, block, seed):
    rows, columns = image.shape[0] // block, image.shape[1] // block
    tiles = [image[r * block:(r + 1) * block, c * block:(c + 1) * block]
             for r in range(rows) for c in range(columns)]
    order = np.random.default_rng(seed).permutation(len(tiles))
    return np.concatenate([np.concatenate([tiles[order[r * columns + c]] for c in range(columns)],
                                          axis=1) for r in range(rows)], axis=0)


def _box_blurred(image, radius):
    result = image.copy()
    for axis in (0, 1):
        result = sum(np.roll(result, shift, axis=axis) for shift in range(-radius, radius + 1))
        result = result / (2 * radius + 1)
    return result


def test_identical_images_are_zero_apart_and_fully_alike():
    image = _texture(96, 128, seed=0)
    distance = quality.style_distance(image, image)
    assert distance.patches == 0.0 and distance.colours == 0.0
    assert quality.content_score(image, image) == pytest.approx(1.0)


def test_shuffled_patches_are_closer_in_style_than_a_blur():
    style = _texture(128, 128, seed=1)
    shuffled = quality.style_distance(_blocks_shuffled(style, 32, seed=2), style)
    blurred = quality.style_distance(_box_blurred(style, 3), style)
    other = quality.style_distance(_texture(128, 128, seed=3), style)
    assert shuffled.patches < 0.5 * blurred.patches
    assert shuffled.patches < other.patches
    # Shuffling and blurring keep the palette; another texture's colours differ.
    assert max(shuffled.colours, blurred.colours) < other.colours


def test_a_colour_cast_moves_the_colours_more_than_the_patches():
    style = _texture(96, 96, seed=4)
    cast = quality.style_distance(np.clip(style + np.array([40.0, 0.0, -40.0]), 0, 255), style)
    other = quality.style_distance(_texture(96, 96, seed=5), style)
    # 40 grey levels on two channels: about 0.1 in 0-1 units along a random direction.
    assert 0.05 < cast.colours
    # Only the pyramid's coarsest (low-pass) level sees the cast.
    assert cast.patches < 0.5 * other.patches


def test_content_score_keeps_structure_and_ignores_fine_texture():
    photo = _texture(128, 160, seed=6)
    textured = photo + np.random.default_rng(7).normal(0, 20, photo.shape)
    shifted = np.roll(photo, 16, axis=1)
    assert quality.content_score(textured, photo) > 0.9
    assert quality.content_score(shifted, photo) < 0.5
    assert quality.content_score(_texture(128, 160, seed=8), photo) < 0.3
    with pytest.raises(ValueError, match="Received"):
        quality.content_score(photo[:64], photo)


def test_halves_split_the_longer_side():
    left, right = quality.halves(np.zeros((10, 21, 3)))
    assert left.shape == right.shape == (10, 10, 3)
    top, bottom = quality.halves(np.zeros((30, 20, 3)))
    assert top.shape == bottom.shape == (15, 20, 3)


def test_coarse_structure_keeps_big_shapes_and_loses_them_when_moved():
    """A fine texture laid over the photo keeps its big shapes at 1/8; the photo moved by a
    quarter of its width loses them; the photo itself scores 1."""
    y, x = np.mgrid[0:128, 0:128].astype(np.float64)
    photo = np.repeat((127 + 100 * np.sin(x / 20) * np.cos(y / 25))[..., None], 3, axis=2)
    textured = np.clip(photo + (_texture(128, 128, seed=1) - 127) * 0.6, 0, 255)
    moved = np.roll(photo, 32, axis=1)
    assert quality.coarse_structure_score(photo, photo) == pytest.approx(1.0)
    assert quality.coarse_structure_score(textured, photo) > 0.9
    assert quality.coarse_structure_score(moved, photo) < 0.5
    with pytest.raises(ValueError, match="Received"):
        quality.coarse_structure_score(photo[:64], photo)


def test_feature_content_distance_is_zero_for_the_photo_and_one_for_nothing():
    features = np.random.default_rng(0).uniform(0, 3, (1, 8, 8, 16))
    assert quality.feature_content_distance(features, features) == 0.0
    assert quality.feature_content_distance(np.zeros_like(features), features) == pytest.approx(1.0)
    doubled = quality.feature_content_distance(2 * features, features)
    assert doubled == pytest.approx(1.0)  # as far as nothing, the other way
    with pytest.raises(ValueError, match="Received"):
        quality.feature_content_distance(features[:, :4], features)


def test_seam_ratio_sees_a_seam_where_the_edges_differ_and_none_where_they_continue():
    # A triangle wave of whole periods across the width: every step between neighbouring
    # columns is 16 levels, and so is the one across the edge (ratio 1). A ramp jumps back.
    columns = np.arange(64)
    wave = 200.0 - np.abs(columns % 16 - 8) * 16.0
    periodic = np.repeat(wave[None, :, None], 8, axis=0).repeat(3, axis=2)
    assert quality.seam_ratio(periodic, "x") == pytest.approx(1.0)
    ramp = np.repeat((columns * 4.0)[None, :, None], 8, axis=0).repeat(3, axis=2)
    assert quality.seam_ratio(ramp, "x") == pytest.approx(63 * 4 / 4)  # 252 levels over 4
    # Along y the rows are read: the ramp turned a quarter has the same ratio.
    assert quality.seam_ratio(ramp.transpose(1, 0, 2), "y") == pytest.approx(63.0)
    assert quality.seam_ratio(ramp, "y") == 0.0  # no difference down the columns at all
    with pytest.raises(ValueError, match="Received"):
        quality.seam_ratio(periodic, "z")
