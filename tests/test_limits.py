"""The size limit checked before anything is allocated, against the memory plan itself."""

import pytest

from tf_style import images, limits, memory, picture_runner
from tf_style.config import TransferConfig

GB = memory.GB


@pytest.fixture
def photo(tmp_path):
    """A 64 x 48 photo and a painting on disk; the check reads only the photo's header."""
    from tf_style.testing import write_image_pair
    return write_image_pair(str(tmp_path))


def test_a_size_whose_state_cannot_fit_is_refused_naming_one_the_plan_accepts(photo):
    content, style = photo
    config = TransferConfig(content=content, style=style, size=100000, scales=(100000,))
    model = memory.cost_model("cpu", "float32", config)
    with pytest.raises(limits.SizeError, match=r"100000x75000 px.*more than the 4 GB") as error:
        limits.check_size(config, "float32", 4 * GB, model)
    advised = int(str(error.value).split("--size ")[-1].split()[0])
    # The memory plan, given the arrays the inputs really are at that size, runs it; 5%
    # larger, not even its smallest tiles fit.
    for size, fits in ((advised, True), (round(advised * 1.05), False)):
        width, height = images.scaled_size(48, 64, size)
        arrays = 3 * 4 * height * width * 2  # the photo and the painting, float32
        at_size = TransferConfig(content=content, style=style, size=size, scales=(size,))
        if fits:
            memory.plan_run(at_size, [(height, width)], arrays, limit_bytes=4 * GB)
        else:
            with pytest.raises(memory.MemoryPlanError):
                memory.plan_run(at_size, [(height, width)], arrays, limit_bytes=4 * GB)


def test_what_fits_passes_and_an_unreadable_photo_is_left_to_the_loader(photo, tmp_path):
    content, style = photo
    limits.check_size(TransferConfig(content=content, style=style, size=512), "float32", 4 * GB)
    missing = TransferConfig(content=str(tmp_path / "gone.png"), style=style, size=100000)
    limits.check_size(missing, "float32", 4 * GB)  # load_image says "not found" later


def test_the_photo_is_never_resized_to_a_size_that_cannot_fit(photo, monkeypatch):
    content, style = photo

    def resized(*args, **kwargs):
        raise AssertionError("the inputs were prepared")

    monkeypatch.setattr(picture_runner, "prepare_inputs", resized)
    config = TransferConfig(content=content, style=style, size=100000, memory_limit=4.0)
    with pytest.raises(limits.SizeError, match="100000x75000"):
        picture_runner.plan_picture(config)
