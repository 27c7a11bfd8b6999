"""Image loading across formats and modes, resizing, and atomic writes."""

import os

import numpy as np
import pytest
from PIL import Image

from tf_style import images

RGB = np.array([[[200, 30, 40], [10, 220, 60]], [[70, 80, 230], [250, 250, 5]]], np.uint8)


@pytest.mark.parametrize("extension", [".png", ".bmp", ".tiff", ".webp"])
def test_lossless_formats_load_as_rgb_0_255(tmp_path, extension):
    path = str(tmp_path / ("image" + extension))
    Image.fromarray(RGB).save(path, **({"lossless": True} if extension == ".webp" else {}))
    loaded = images.load_image(path)
    assert loaded.dtype == np.float32 and loaded.shape == (2, 2, 3)
    np.testing.assert_array_equal(loaded, RGB.astype(np.float32))


def test_jpeg_loads_close_to_original(tmp_path):
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (32, 1, 3))
    path = str(tmp_path / "image.jpg")
    Image.fromarray(smooth).save(path, quality=95)
    assert np.abs(images.load_image(path) - smooth).mean() < 2


def test_grayscale_and_16_bit_grayscale(tmp_path):
    gray = np.array([[0, 128], [255, 64]], np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    loaded = images.load_image(str(tmp_path / "gray.png"))
    np.testing.assert_array_equal(loaded, np.repeat(gray[..., None], 3, -1))
    deep = (gray.astype(np.uint16) * 257)
    Image.fromarray(deep).save(tmp_path / "gray16.png")
    loaded16 = images.load_image(str(tmp_path / "gray16.png"))
    np.testing.assert_allclose(loaded16[..., 0], gray, atol=0.01)


def test_palette_and_alpha_composited_on_white(tmp_path):
    Image.fromarray(RGB).convert("P").save(tmp_path / "palette.png")
    np.testing.assert_allclose(images.load_image(str(tmp_path / "palette.png")),
                               np.asarray(Image.fromarray(RGB).convert("P").convert("RGB")))
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = (100, 0, 0, 255)  # opaque dark red
    rgba[0, 1] = (0, 0, 0, 0)      # fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    np.testing.assert_array_equal(images.load_image(str(tmp_path / "alpha.png"))[0],
                                  [[100, 0, 0], [255, 255, 255]])


def test_cmyk_jpeg_loads_as_rgb(tmp_path):
    red = Image.new("RGB", (8, 8), (255, 0, 0)).convert("CMYK")
    red.save(tmp_path / "cmyk.jpg", quality=100)
    loaded = images.load_image(str(tmp_path / "cmyk.jpg"))
    assert loaded.shape == (8, 8, 3)
    assert loaded[..., 0].mean() > 200 and loaded[..., 1:].mean() < 40


def test_exif_orientation_is_applied(tmp_path):
    wide = np.zeros((2, 4, 3), np.uint8)
    wide[0, 0] = 255  # top-left marker
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(wide).save(tmp_path / "rotated.png", exif=exif)
    loaded = images.load_image(str(tmp_path / "rotated.png"))
    assert loaded.shape == (4, 2, 3)
    assert loaded[0, -1].tolist() == [255, 255, 255]  # the marker moved to the top-right


def test_bad_files_raise_image_error(tmp_path):
    with pytest.raises(images.ImageError, match="not found"):
        images.load_image(str(tmp_path / "missing.png"))
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(images.ImageError, match="not an image"):
        images.load_image(str(tmp_path / "text.png"))
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(images.ImageError, match="cannot read image"):
        images.load_image(str(tmp_path / "truncated.jpg"))
    with pytest.raises(images.ImageError, match="directory"):
        images.load_image(str(tmp_path))


def test_resize_longest_side_keeps_aspect():
    image = np.zeros((300, 400, 3), np.float32)
    assert images.resize_longest_side(image, 100).shape == (75, 100, 3)
    assert images.resize_longest_side(image, 800).shape == (600, 800, 3)  # upscales too
    flat = np.full((30, 40, 3), 77.0, np.float32)
    np.testing.assert_allclose(images.resize_longest_side(flat, 64), 77.0, atol=1e-3)


def test_check_size_refuses_tiny_images():
    images.check_size(np.zeros((32, 40, 3)), "ok")
    with pytest.raises(images.ImageError, match="at least 32"):
        images.check_size(np.zeros((31, 400, 3)), "content image")


def test_save_image_round_trips_and_replaces_atomically(tmp_path):
    path = str(tmp_path / "out" / "result.png")
    images.save_image(path, RGB.astype(np.float32) + 0.3)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), RGB)
    images.save_image(path, np.full((2, 2, 3), 300.0))  # clipped, replaces the old file
    np.testing.assert_array_equal(np.asarray(Image.open(path)), 255)
    assert os.listdir(tmp_path / "out") == ["result.png"]  # no temporary left behind
    images.save_image(str(tmp_path / "result.jpg"), RGB.astype(np.float32))
    assert Image.open(tmp_path / "result.jpg").format == "JPEG"
