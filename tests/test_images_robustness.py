"""Hostile input for load_image: every file ends in an ImageError or a finite RGB array,
never another exception and never a hang. The corpus is generated here, none committed."""

import contextlib
import os
import signal

import numpy as np
import pytest

from tf_style import images, testing

SECONDS_PER_FILE = 10


@contextlib.contextmanager
def _deadline(seconds):
    def expire(signal_number, frame):
        raise TimeoutError(f"no answer within {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _outcome(path, **options):
    """'error' for an ImageError, else the array (which must be finite RGB)."""
    with _deadline(SECONDS_PER_FILE):
        try:
            image = images.load_image(path, **options)
        except images.ImageError as error:
            assert "\n" not in str(error)
            return "error"
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.float32
    assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 255
    return image


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("corpus"))
    intact = testing.image_file_corpus(os.path.join(directory, "intact"))
    damaged = testing.damaged_copies(intact, os.path.join(directory, "damaged"), count=200, seed=0)
    return intact, damaged


def test_two_hundred_damaged_files_end_in_image_error_or_a_finite_picture(corpus):
    _, damaged = corpus
    outcomes = {path: _outcome(path) for path in damaged}
    refused = sum(1 for outcome in outcomes.values() if isinstance(outcome, str))
    # Cut-short files lose their end markers; most must be refused, not silently used.
    cut = [path for path in damaged if "_cut_" in path]
    assert sum(isinstance(outcomes[path], str) for path in cut) >= 0.9 * len(cut)
    assert refused > len(damaged) // 2


def test_damaged_png_is_refused_by_its_checksums(corpus):
    intact, damaged = corpus
    pngs = [path for path in damaged if path.endswith(".png") and "_flip_" in path]
    assert pngs and all(_outcome(path) == "error" for path in pngs)


def test_intact_files_load_except_non_finite_ones(corpus):
    intact, _ = corpus
    for path in intact:
        outcome = _outcome(path)
        name = os.path.basename(path)
        if name in ("nan.tif", "inf.tif", "tiny.png"):
            continue  # tiny.png loads (1x1); the size check is the caller's
        assert not isinstance(outcome, str), name
    for name in ("nan.tif", "inf.tif"):
        with pytest.raises(images.ImageError, match="not numbers"):
            images.load_image(os.path.join(os.path.dirname(intact[0]), name))


def test_a_declared_giant_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(testing.png_declaring(100_000, 100_000))
    with _deadline(SECONDS_PER_FILE):
        with pytest.raises(images.ImageError, match="10000 MP.*--max_image_megapixels"):
            images.load_image(str(path))


def test_the_pixel_limit_can_be_raised_and_lowered(tmp_path):
    path = str(tmp_path / "image.png")
    from PIL import Image
    Image.fromarray(testing.synthetic_image(100, 100, seed=1)).save(path)
    with pytest.raises(images.ImageError, match="over the limit"):
        images.load_image(path, max_pixels=5_000)
    assert images.load_image(path, max_pixels=10_000).shape == (100, 100, 3)


def test_fifo_device_and_directory_are_refused_without_blocking(tmp_path):
    fifo = str(tmp_path / "pipe.png")
    os.mkfifo(fifo)
    with _deadline(SECONDS_PER_FILE):
        with pytest.raises(images.ImageError, match="FIFO"):
            images.load_image(fifo)
        with pytest.raises(images.ImageError, match="FIFO, socket or device"):
            images.load_image("/dev/zero")
        with pytest.raises(images.ImageError, match="directory"):
            images.load_image(str(tmp_path))


def test_a_large_image_is_decoded_at_reduced_size_to_the_same_picture(tmp_path):
    from PIL import Image
    picture = testing.synthetic_image(1200, 1600, seed=5)
    path = str(tmp_path / "large.jpg")
    Image.fromarray(picture).save(path, quality=95)
    full = images.resize_longest_side(images.load_image(path), 100)
    reduced_decode = images.load_image(path, longest_side=100)
    assert max(reduced_decode.shape[:2]) < 1600 and max(reduced_decode.shape[:2]) >= 200
    reduced = images.resize_longest_side(reduced_decode, 100)
    assert reduced.shape == full.shape
    assert np.abs(reduced - full).mean() < 3
