"""Config validation: bad settings fail at construction with a message naming them."""

import dataclasses
import os
import re
import subprocess
import sys

import pytest

from tf_style import run_identity, schedule
from tf_style.config import TransferConfig
from tf_style.flag_docs import flag_table
from tf_style.architecture import conv_layer_names

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("override, message", [
    (dict(iters=0), "iters"),
    (dict(iters=-5), "iters"),
    (dict(size=16), "at least 32"),
    (dict(style_weight=0.0), "style_weight"),
    (dict(content_weight=-1.0), "content_weight"),
    (dict(tv_weight=-0.1), "tv_weight"),
    (dict(lr=float("nan")), "lr"),
    (dict(style_layers=("block9_conv1",)), "block9_conv1 that VGG19 lacks"),
    (dict(model="vgg16", style_layers=("block5_conv4",)), "block5_conv4 that VGG16 lacks; its "
     "layers are block1_conv1.*block5_conv3"),
    (dict(model="vgg11"), "model"),
    (dict(onnx_convention="caffe"), "onnx_convention"),
    (dict(content_layers=()), "at least one layer"),
    (dict(style_layer_weights=(1.0, 2.0)), "one weight per style layer"),
    (dict(style_layer_weights=(1.0, 1.0, 1.0, 1.0, 0.0)), "style_layer_weights"),
    (dict(optimizer="lbfgsx"), "optimizer"),
    (dict(pooling="min"), "pooling"),
    (dict(style_scale=0.0), "style_scale"),
    (dict(iters=100_001), "at most 100,000"),
    (dict(frame_iters=10**9), "at most 100,000"),
    (dict(seed=-1), "from 0 to 4294967295"),
    (dict(seed=2**32), "from 0 to 4294967295"),
    (dict(seed=True), "from 0 to 4294967295"),
])
def test_bad_settings_raise_value_error(override, message):
    with pytest.raises(ValueError, match=message) as error:
        TransferConfig(content="c.jpg", style="s.jpg", **override)
    assert "Received" in str(error.value)


def test_a_blend_of_more_paintings_than_the_limit_is_refused():
    TransferConfig(content="c.jpg", style=",".join(["s.jpg"] * 32))
    with pytest.raises(ValueError, match="at most 32 paintings. Received: 33"):
        TransferConfig(content="c.jpg", style=",".join(["s.jpg"] * 33))


def test_layer_weights_normalise_to_one():
    config = TransferConfig(content="c.jpg", style="s.jpg",
                            style_layers=("block1_conv1", "block2_conv1"),
                            style_layer_weights=(3.0, 1.0))
    assert config.normalized_style_layer_weights == (0.75, 0.25)
    assert TransferConfig(content="c", style="s").normalized_style_layer_weights == (0.2,) * 5


def test_default_run_dir_and_output_follow_the_inputs():
    config = TransferConfig(content="photos/tubingen.jpg", style="art/starry_night.jpg")
    assert run_identity.run_dir(config) == "runs/tubingen-starry_night"
    assert run_identity.output_path(config) == "runs/tubingen-starry_night/output.png"


def test_result_settings_ignore_run_length_but_not_the_picture():
    base = TransferConfig(content="c", style="s")
    assert (run_identity.result_settings(base)
            == run_identity.result_settings(dataclasses.replace(base, iters=9000, save_every=7)))
    assert run_identity.result_settings(base) != run_identity.result_settings(
        dataclasses.replace(base, style_weight=5.0))


def test_config_module_does_not_import_tensorflow():
    code = "import tf_style.config, sys; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("override, message", [
    (dict(style=("a.jpg", "b.jpg"), style_blend=(1.0,)), "one weight per style image"),
    (dict(style=("a.jpg", "b.jpg"), style_blend=(1.0, -1.0)), "style_blend"),
    (dict(style=("a.jpg", "b.jpg"), content_mask=("m.png",)), "one mask per style image"),
    (dict(style=("a.jpg", "b.jpg"), style_mask=("m.png", "n.png")), "needs `content_mask`"),
    (dict(style_preset="fine", style_layer_weights=(1.0,) * 5), "not both"),
    (dict(style_preset="huge"), "style_preset"),
    (dict(preserve_colors="sepia"), "preserve_colors"),
    (dict(init_noise_ratio=1.5), "init_noise_ratio"),
    (dict(style=""), "style"),
    (dict(output_bits=12), "output_bits"),
    (dict(output_bits=16, output="result.jpg"), "needs a .png, .tif, .tiff --output"),
])
def test_bad_artistic_settings_raise_value_error(override, message):
    settings = dict(content="c.jpg", style="s.jpg")
    settings.update(override)
    with pytest.raises(ValueError, match=message):
        TransferConfig(**settings)


def test_presets_weight_layers_by_block():
    fine = TransferConfig(content="c", style="s", style_preset="fine").normalized_style_layer_weights
    coarse = TransferConfig(content="c", style="s", style_preset="coarse").normalized_style_layer_weights
    assert fine[0] > fine[2] > fine[4] and coarse[0] < coarse[2] < coarse[4]
    assert sum(fine) == pytest.approx(1.0) and sum(coarse) == pytest.approx(1.0)
    balanced = TransferConfig(content="c", style="s", style_preset="balanced")
    assert balanced.normalized_style_layer_weights == pytest.approx((0.2,) * 5)


def test_several_styles_from_a_comma_list_and_blend():
    config = TransferConfig(content="c.jpg", style="x/a.jpg,y/b.jpg", style_blend=(7.0, 3.0))
    assert config.style == ("x/a.jpg", "y/b.jpg")
    assert config.normalized_style_blend == pytest.approx((0.7, 0.3))
    assert run_identity.run_dir(config) == "runs/c-a+b"


def test_scales_as_sizes_or_octaves_end_at_size():
    def sizes(**overrides):
        return schedule.scale_sizes(TransferConfig(content="c", style="s", size=512, **overrides))
    assert sizes(scales=()) == sizes(scales=(1,)) == (512,)
    assert sizes(scales=(3,)) == (128, 256, 512)
    assert sizes(scales=(256,)) == sizes(scales=(256, 512)) == (256, 512)
    config = TransferConfig(content="c", style="s", iters=10, scales=(2,), size=100)
    assert schedule.scale_sizes(config) == (50, 100)
    # Both spellings of the same scales are the same run.
    assert (run_identity.result_settings(TransferConfig(content="c", style="s", scales=(2,)))
            == run_identity.result_settings(TransferConfig(content="c", style="s", scales=(256, 512))))


def test_default_pyramid_halves_size_while_at_least_256_px():
    def sizes(size):
        return schedule.scale_sizes(TransferConfig(content="c", style="s", size=size))
    assert sizes(256) == (256,)
    assert sizes(512) == (256, 512)
    assert sizes(1000) == (500, 1000)  # 250 is under 256
    assert sizes(1024) == (256, 512, 1024)
    assert sizes(3840) == (480, 960, 1920, 3840)  # 240 is under 256


def test_a_textures_pyramid_starts_at_64_px():
    def sizes(texture_size, **overrides):
        return schedule.scale_sizes(TransferConfig(style="s", texture_size=texture_size,
                                                   **overrides))
    assert sizes("256x192") == (64, 128, 256)
    assert sizes("200x100") == (100, 200)  # 50 is under 64
    assert sizes("1024x1024") == (64, 128, 256, 512, 1024)
    assert sizes("512x512", scales=()) == (512,)  # --scales still chooses
    assert sizes("1024x128") == (256, 512, 1024)  # 128x16 would be under VGG's 32 px


def test_each_scale_has_its_own_even_share_of_iters_whatever_the_stopping_rule():
    # The finest scale is never starved: a coarse scale that runs to its end leaves the
    # later ones their shares (the old rule let it use all but 20 steps of each).
    for tolerance in (0.0, 0.003):
        config = TransferConfig(content="c", style="s", iters=10, scales=(3,),
                                convergence_tolerance=tolerance)
        assert schedule.scale_ends(config) == (3, 6, 10)
        config = TransferConfig(content="c", style="s", iters=500, scales=(3,),
                                convergence_tolerance=tolerance)
        assert schedule.scale_ends(config) == (166, 333, 500)
    assert schedule.scale_ends(TransferConfig(content="c", style="s", iters=7, scales=())) == (7,)


@pytest.mark.parametrize("override, message", [
    (dict(scales=(5,), size=256), "smallest would be 16 px"),
    (dict(scales=(256, 128)), "rise from coarse to fine"),
    (dict(scales=(256, 256)), "rise from coarse to fine"),
    (dict(scales=(1024,)), "end at most at --size 512"),
    (dict(scales=(16, 512)), "at least 32"),
    (dict(scales=(0,)), "positive integer"),
    (dict(scales=(3,), iters=2), "each of the 3 scales a step"),
])
def test_bad_scales_raise_value_error(override, message):
    with pytest.raises(ValueError, match=message) as error:
        TransferConfig(content="c.jpg", style="s.jpg", **override)
    assert "Received" in str(error.value)


def test_the_documented_flag_table_is_the_one_made_from_the_fields():
    """docs/usage.md's table must be `flag_docs.flag_table()`; to update it, paste what it
    prints."""
    with open(os.path.join(ROOT, "docs", "usage.md"), encoding="utf8") as file:
        readme = file.read()
    start = readme.index("| flag | default | meaning |")
    end = readme.index("\n\n", start) + 1
    assert readme[start:end] == flag_table()
    # and the table names exactly the flags the command itself offers, as its --help (absl's
    # own listing, not ours) says, with absl's defaults where it prints one.
    documented = dict(re.findall(r"^\| `--(\w+)` \| ([^|]*) \|", readme[start:end], flags=re.M))
    shown = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--help"],
                           capture_output=True, text=True, timeout=120).stdout
    offered = re.findall(r"^  --(?:\[no\])?(\w+):", shown, flags=re.M)
    assert sorted(documented) == sorted(offered)
    for block in re.split(r"\n(?=  --)", shown):
        found = re.match(r"  --(?:\[no\])?(\w+):.*\(default: '([^']*)'\)", block, flags=re.S)
        if not found:
            continue
        name, default = found.groups()
        cell = documented[name].strip().strip("`")
        if cell == "none" or cell.startswith(("--", "equal", "(required")):
            continue
        try:
            assert float(cell) == float(default), (name, cell, default)
        except ValueError:
            assert cell.replace(" ", "").lower() == default.replace(" ", "").lower(), \
                (name, cell, default)


def test_every_field_documents_itself_and_says_whether_it_changes_the_picture():
    for field in dataclasses.fields(TransferConfig):
        assert field.metadata["help"], field.name
        assert isinstance(field.metadata["result"], bool), field.name
    compared = set(run_identity.result_settings(TransferConfig(content="c", style="s")))
    assert "style_weight" in compared and "size" in compared
    assert not compared & {"iters", "workdir", "output", "progress", "content", "style"}


def test_an_error_names_the_setting_as_the_flag_is_spelled():
    with pytest.raises(ValueError, match="`content_mask` needs one mask per style image"):
        TransferConfig(content="c", style="a,b", content_mask="m.png")


def test_a_video_runs_at_its_size_and_writes_a_video():
    clip = TransferConfig(content="clips/walk.MP4", style="s.jpg", size=1024, scales=(3,))
    assert clip.is_video and schedule.scale_sizes(clip) == (1024,)  # no pyramid for frames
    assert run_identity.output_path(clip).endswith("output.mp4")
    assert TransferConfig(content="frames", style="s.jpg", frames=True).is_video
    picture = TransferConfig(content="walk.jpg", style="s.jpg", size=1024)
    assert not picture.is_video and run_identity.output_path(picture).endswith("output.png")
    assert "temporal_weight" in run_identity.result_settings(clip)
    assert "temporal_weight" not in run_identity.result_settings(picture)  # pictures' run.json as before
    for settings, message in (
            (dict(content="walk.mp4", output="out.png"), "`output` of a video must be"),
            (dict(content="walk.jpg", output="out.mp4"), "`output` is a video but"),
            (dict(content="walk.mp4", output_bits=16), "`output_bits` 16 is for pictures"),
            (dict(content="walk.mp4", content_mask=("m.png",)), "Masks belong to one picture"),
            (dict(content="walk.mp4", flow="lucas"), "`flow` must be one of"),
            (dict(content="walk.mp4", temporal_weight=-1.0), "`temporal_weight` must be zero")):
        with pytest.raises(ValueError, match=message):
            TransferConfig(style="s.jpg", **settings)


def test_the_style_weights_default_depends_on_the_features():
    """Trained features answer the style term ~100x more strongly than random ones
    (docs/style-losses.md): each kind has its own default; a given weight stays."""
    for style_loss in ("gram", "w2"):
        config = TransferConfig(content="c.jpg", style="s.jpg", style_loss=style_loss)
        trained, untrained = config.style_weight_for("trained"), config.style_weight_for("random")
        assert trained < untrained
        assert config.with_feature_defaults("trained").style_weight == trained
        resolved = config.with_feature_defaults("trained")
        assert run_identity.result_settings(resolved)["style_weight"] == trained
    given = TransferConfig(content="c.jpg", style="s.jpg", style_weight=37.0)
    assert given.with_feature_defaults("trained").style_weight == 37.0
    assert given.with_feature_defaults("random").style_weight == 37.0
    with pytest.raises(ValueError, match="Received"):
        given.style_weight_for("imagenet")


def test_default_layers_are_in_both_models():
    for model in ("vgg19", "vgg16"):
        config = TransferConfig(content="c.jpg", style="s.jpg", model=model)
        assert set(config.content_layers + config.style_layers) <= set(
            conv_layer_names(model))
        assert run_identity.result_settings(config)["model"] == model


@pytest.mark.parametrize("override, message", [
    (dict(content="c.jpg"), "not both"),
    (dict(preserve_colors="luminance"), "`preserve_colors` needs a photo"),
    (dict(content_mask="m.png"), "`content_mask` needs a photo"),
    (dict(laplacian_weight=1.0), "`laplacian_weight` needs a photo"),
    (dict(texture_size="16x64"), "at least 32 px"),
    (dict(texture_size="64 by 64"), "WIDTHxHEIGHT"),
])
def test_a_texture_refuses_what_needs_a_photo(override, message):
    settings = {**dict(content="", style="s.jpg", texture_size="64x48"), **override}
    with pytest.raises(ValueError, match=message) as error:
        TransferConfig(**settings)
    assert "Received" in str(error.value)


def test_a_texture_keeps_an_init_it_was_given_and_starts_from_noise_otherwise():
    assert TransferConfig(style="s.jpg", texture_size="64x48").init == "noise"
    assert TransferConfig(style="s.jpg", texture_size="64x48", init="style").init == "style"
    assert TransferConfig(style="s.jpg", texture_size="64x48", size=1024).size == 64


@pytest.mark.parametrize("seamless, wrap", [(None, (False, False)), ("x", (False, True)),
                                            ("y", (True, False)), ("both", (True, True))])
def test_seamless_names_the_axes_that_wrap_as_rows_and_columns(seamless, wrap):
    assert TransferConfig(content="c.jpg", style="s.jpg", seamless=seamless).wrap_axes == wrap


def test_seamless_is_refused_for_a_video():
    with pytest.raises(ValueError, match="video"):
        TransferConfig(content="walk.mp4", style="s.jpg", seamless="x")
