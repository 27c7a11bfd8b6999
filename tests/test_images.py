"""Image loading across formats and modes, resizing, and atomic writes."""

import io
import os

import numpy as np
import pytest
from PIL import Image, ImageCms, features

from tf_style import images, testing_color

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


@pytest.mark.parametrize("wrap", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("size", [(32, 24), (40, 20), (8, 6), (13, 11)])
def test_a_periodic_resize_is_the_middle_of_the_repeated_pictures_resize(wrap, size):
    """Up or down, whole or fractional ratios: wrapped axes read past the edge from the
    opposite one, exactly as Pillow's own resize of the picture repeated 3 times does in
    its middle copy; an unwrapped axis is clamped as before."""
    image = np.random.default_rng(0).uniform(0, 255, (12, 16, 3)).astype(np.float32)
    copies = (3 if wrap[0] else 1, 3 if wrap[1] else 1)
    repeated = images.resize(np.tile(image, (*copies, 1)), (size[0] * copies[1], size[1] * copies[0]))
    top, left = (size[1] if wrap[0] else 0), (size[0] if wrap[1] else 0)
    np.testing.assert_allclose(images.resize(image, size, wrap),
                               repeated[top:top + size[1], left:left + size[0]], atol=1e-3)
    clamped = images.resize(image, size)
    assert np.abs(images.resize(image, size, wrap) - clamped).max() > 1.0  # the edges differ


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


# Colour management and formats people have: ICC profiles, HEIC, AVIF, 16-bit output.

P3_PROFILE = testing_color.icc_rgb_profile(testing_color.DISPLAY_P3_PRIMARIES, "Display P3 (test)")


def _p3_pixels():
    return np.random.default_rng(0).integers(30, 226, (16, 24, 3)).astype(np.uint8)


def _smooth_pixels(height, width):
    """Gentle colour ramps: what lossy codecs (chroma subsampling) keep almost exactly."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    return np.stack([40 + 170 * x, 40 + 170 * y, 200 - 150 * x * y], axis=-1).astype(np.uint8)


def test_display_p3_png_is_converted_to_srgb(tmp_path):
    pixels = _p3_pixels()
    path = str(tmp_path / "p3.png")
    Image.fromarray(pixels).save(path, icc_profile=P3_PROFILE)
    expected = testing_color.convert_with_matrices(pixels, testing_color.DISPLAY_P3_PRIMARIES)
    loaded = images.load_image(path)
    np.testing.assert_allclose(loaded, expected, atol=1.5)
    # Read as if it were sRGB, the same file would be far off: the conversion matters.
    assert np.abs(pixels - expected).max() > 40


def test_srgb_tagged_and_untagged_files_are_left_alone(tmp_path):
    pixels = _p3_pixels()
    tagged, untagged = str(tmp_path / "tagged.png"), str(tmp_path / "plain.png")
    Image.fromarray(pixels).save(tagged, icc_profile=images.srgb_profile())
    Image.fromarray(pixels).save(untagged)
    np.testing.assert_array_equal(images.load_image(tagged), pixels)
    np.testing.assert_array_equal(images.load_image(untagged), pixels)


def test_an_unusable_profile_is_ignored_with_a_warning(tmp_path, caplog):
    path = str(tmp_path / "broken_profile.png")
    Image.fromarray(RGB).save(path, icc_profile=b"not an icc profile at all")
    np.testing.assert_array_equal(images.load_image(path), RGB)
    assert "Ignoring the colour profile" in caplog.text


def test_p3_profile_with_alpha_keeps_the_alpha(tmp_path):
    pixels = _p3_pixels()
    rgba = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    rgba[:, :12, 3] = 0  # the left half transparent: white after compositing
    path = str(tmp_path / "p3_alpha.png")
    Image.fromarray(rgba, mode="RGBA").save(path, icc_profile=P3_PROFILE)
    loaded = images.load_image(path)
    np.testing.assert_array_equal(loaded[:, :12], 255.0)
    expected = testing_color.convert_with_matrices(pixels[:, 12:], testing_color.DISPLAY_P3_PRIMARIES)
    np.testing.assert_allclose(loaded[:, 12:], expected, atol=1.5)


def test_heic_photo_with_a_p3_profile_loads_in_srgb(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif", reason="the heif extra is not installed")
    smooth = _smooth_pixels(64, 96)
    path = str(tmp_path / "IMG_0001.HEIC")
    pillow_heif.register_heif_opener()
    Image.fromarray(smooth).save(path, quality=95, icc_profile=P3_PROFILE)
    with Image.open(path) as image:
        assert image.format == "HEIF"
    loaded = images.load_image(path)
    expected = testing_color.convert_with_matrices(smooth, testing_color.DISPLAY_P3_PRIMARIES)
    assert loaded.shape == (64, 96, 3)
    assert np.abs(loaded - expected).mean() < 3  # lossy HEVC, but in sRGB
    assert np.abs(smooth.astype(np.float32) - expected).mean() > 5


def test_heic_without_pillow_heif_says_what_to_install(tmp_path, monkeypatch):
    path = str(tmp_path / "photo.heic")
    with open(path, "wb") as file:
        file.write(b"\0\0\0\x18ftypheic" + b"\0" * 64)
    monkeypatch.setattr(images, "_register_heif_opener", lambda: False)
    with pytest.raises(images.ImageError, match=r"pillow-heif .*\[heif\]"):
        images.load_image(path)


def test_avif_loads(tmp_path):
    if not features.check("avif"):
        pytest.skip("this Pillow was built without AVIF")
    path = str(tmp_path / "image.avif")
    smooth = _smooth_pixels(32, 48)
    Image.fromarray(smooth).save(path, quality=95)
    assert np.abs(images.load_image(path) - smooth).mean() < 2


@pytest.mark.parametrize("extension", [".png", ".jpg", ".webp", ".tif"])
def test_written_images_are_tagged_srgb(tmp_path, extension):
    path = str(tmp_path / ("out" + extension))
    images.save_image(path, RGB.astype(np.float32))
    with Image.open(path) as image:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        assert ImageCms.getProfileDescription(profile).startswith("sRGB")


def _sixteen_bit_image():
    ramp = np.linspace(0.0, 255.0, 97, dtype=np.float32)  # steps far finer than 8 bits
    return np.stack([np.tile(ramp, (5, 1)), np.tile(ramp[::-1], (5, 1)),
                     np.full((5, 97), 127.3, np.float32)], axis=-1)


def test_sixteen_bit_png_holds_the_finer_values(tmp_path):
    png = pytest.importorskip("png", reason="pypng (test extra) reads 16-bit PNG")
    image = _sixteen_bit_image()
    path = str(tmp_path / "print.png")
    images.save_image(path, image, bits=16)
    width, height, rows, info = png.Reader(filename=path).asDirect()
    assert (width, height, info["bitdepth"], info["planes"]) == (97, 5, 16, 3)
    read = np.array([list(row) for row in rows], np.float64).reshape(5, 97, 3)
    np.testing.assert_allclose(read, np.rint(image.astype(np.float64) * 257), atol=0.5)
    with Image.open(path) as reopened:  # ordinary readers see it, with its profile
        assert reopened.size == (97, 5) and "icc_profile" in reopened.info


def test_sixteen_bit_tiff_holds_the_finer_values(tmp_path):
    tifffile = pytest.importorskip("tifffile", reason="tifffile (test extra) reads 16-bit TIFF")
    image = _sixteen_bit_image()
    path = str(tmp_path / "print.tif")
    images.save_image(path, image, bits=16)
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        read = page.asarray()
        assert read.dtype == np.uint16 and read.shape == (5, 97, 3)
        icc = page.tags[34675].value
    np.testing.assert_array_equal(read, np.rint(image.astype(np.float64) * 257))
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).startswith("sRGB")
    with Image.open(path) as reopened:
        assert reopened.size == (97, 5)


def test_sixteen_bits_only_for_png_and_tiff(tmp_path):
    with pytest.raises(ValueError, match="16-bit output needs a .png or .tif"):
        images.save_image(str(tmp_path / "out.jpg"), RGB.astype(np.float32), bits=16)


def test_written_files_are_byte_for_byte_reproducible(tmp_path):
    """Same pixels, same bytes, whatever the moment: resumed runs' outputs compare equal."""
    import subprocess
    import sys
    import time
    code = ("import sys, numpy as np; from tf_style import images; "
            "images.save_image(sys.argv[1], np.full((4, 5, 3), 77.0, np.float32))")
    paths = [str(tmp_path / f"{index}.png") for index in range(2)]
    for path in paths:
        subprocess.run([sys.executable, "-c", code, path], check=True)
        time.sleep(1.1)  # the profile's header has a time stamp to the second
    with open(paths[0], "rb") as first, open(paths[1], "rb") as second:
        assert first.read() == second.read()


# Transparency: a content's alpha is read, and written back beside the picture.

def _opacity(height, width):
    rows, columns = np.mgrid[:height, :width]
    return np.clip(1.5 - np.hypot(rows - height / 2, columns - width / 2) / (min(height, width) / 3),
                   0.0, 1.0).astype(np.float32)


def test_an_rgba_png_gives_its_opacity_and_its_colours_on_white(tmp_path):
    rgb, alpha = RGB, _opacity(*RGB.shape[:2])
    path = str(tmp_path / "logo.png")
    Image.fromarray(np.dstack([rgb, np.rint(alpha * 255).astype(np.uint8)]), "RGBA").save(path)
    colours, opacity = images.load_image_and_alpha(path)
    np.testing.assert_allclose(opacity, np.rint(alpha * 255) / 255, atol=1e-6)
    stored = (np.rint(alpha * 255) / 255)[..., None]
    on_white = rgb * stored + 255 * (1 - stored)
    np.testing.assert_allclose(colours, on_white, atol=1.01)
    opaque = str(tmp_path / "opaque.png")
    Image.fromarray(rgb).save(opaque)
    assert images.load_image_and_alpha(opaque)[1] is None


@pytest.mark.parametrize("extension", [".png", ".webp", ".tif"])
def test_eight_bit_output_keeps_the_opacity(tmp_path, extension):
    alpha = _opacity(*RGB.shape[:2])
    path = str(tmp_path / f"out{extension}")
    images.save_image(path, RGB.astype(np.float32), alpha=alpha)
    with Image.open(path) as written:
        assert written.mode == "RGBA"
        read = np.asarray(written)
    np.testing.assert_allclose(read[..., 3], np.rint(alpha * 255), atol=0 if extension != ".webp" else 2)


def test_a_jpeg_output_shows_a_transparent_picture_on_white(tmp_path):
    picture = np.zeros((32, 32, 3), np.float32)
    picture[...] = (200.0, 30.0, 40.0)
    alpha = np.zeros((32, 32), np.float32)
    alpha[:, :16] = 1.0
    path = str(tmp_path / "out.jpg")
    images.save_image(path, picture, alpha=alpha)
    read = np.asarray(Image.open(path).convert("RGB"), np.float32)
    assert read[:, -8:].min() > 245  # the transparent half is white
    np.testing.assert_allclose(read[:, :8].mean(axis=(0, 1)), (200, 30, 40), atol=8)


def test_sixteen_bit_png_and_tiff_hold_the_opacity_in_sixteen_bits(tmp_path):
    png = pytest.importorskip("png", reason="pypng (test extra) reads 16-bit PNG")
    tifffile = pytest.importorskip("tifffile", reason="tifffile (test extra) reads 16-bit TIFF")
    image = _sixteen_bit_image()
    alpha = np.linspace(0.0, 1.0, 97, dtype=np.float32)[None].repeat(5, axis=0)
    path = str(tmp_path / "print.png")
    images.save_image(path, image, bits=16, alpha=alpha)
    width, height, rows, info = png.Reader(filename=path).asDirect()
    assert (info["bitdepth"], info["planes"], info["alpha"]) == (16, 4, True)
    read = np.array([list(row) for row in rows], np.float64).reshape(5, 97, 4)
    np.testing.assert_allclose(read[..., 3], np.rint(alpha * 65535.0), atol=0.5)
    assert images.bit_depth(path) == 16
    tiff_path = str(tmp_path / "print.tif")
    images.save_image(tiff_path, image, bits=16, alpha=alpha)
    with tifffile.TiffFile(tiff_path) as tiff:
        page = tiff.pages[0]
        read = page.asarray()
        assert page.extrasamples == (2,)  # unassociated alpha
    assert read.dtype == np.uint16 and read.shape == (5, 97, 4)
    np.testing.assert_array_equal(read[..., 3], np.rint(alpha * 65535.0))
    assert images.bit_depth(tiff_path) == 16


def test_bit_depth_of_eight_bit_files_and_of_what_is_not_an_image(tmp_path):
    path = str(tmp_path / "eight.png")
    Image.fromarray(RGB).save(path)
    assert images.bit_depth(path) == 8
    (tmp_path / "notes.txt").write_text("not a picture")
    assert images.bit_depth(str(tmp_path / "notes.txt")) == 8
    assert images.bit_depth(str(tmp_path / "missing.png")) == 8


def test_a_seamless_picture_repeated_along_the_axes_it_wraps():
    picture = RGB.astype(np.float32)
    height, width = picture.shape[:2]
    assert images.repeated(picture, "x").shape == (height, 2 * width, 3)
    assert images.repeated(picture, "y").shape == (2 * height, width, 3)
    both = images.repeated(picture, "both")
    np.testing.assert_array_equal(both[height:, width:], picture)
