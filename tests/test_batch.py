"""Batches: folders and globs expand to (content, style) pairs, each an ordinary run in its
own directory; reruns skip finished pairs; bad files fail only their own pairs."""

import csv
import dataclasses
import os

import numpy as np
import pytest
from PIL import Image

from conftest import run_train
from tf_style import batch, images, run_identity, runner
from tf_style.config import TransferConfig
from tf_style.errors import TransferError
from tf_style.executors import LocalExecutor
from tf_style.testing import synthetic_image

pytestmark = pytest.mark.slow  # batches of whole runs

SETTINGS = dict(weights="random", size=48, iters=3, progress=False, scales=(1,))


def _write(path, height, width, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(synthetic_image(height, width, seed)).save(path)
    return path


@pytest.fixture
def folders(tmp_path):
    """photos/ with two photos, a broken .jpg and a note; styles/ with two paintings."""
    photos, styles = tmp_path / "photos", tmp_path / "styles"
    _write(str(photos / "beach.png"), 48, 64, seed=1)
    _write(str(photos / "city.png"), 64, 48, seed=3)
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    (photos / "notes.txt").write_text("shot in May")
    (photos / ".hidden.png").write_bytes(b"")
    _write(str(styles / "waves.png"), 64, 64, seed=2)
    _write(str(styles / "dots.png"), 56, 64, seed=4)
    return str(photos), str(styles)


def _rows(path):
    with open(path) as file:
        return {row["pair"]: row for row in csv.DictReader(file)}


def test_a_folder_by_a_folder_gives_every_pair_its_own_run_equal_to_a_single_run(folders, tmp_path):
    photos, styles = folders
    workdir = str(tmp_path / "runs")
    config = TransferConfig(content=photos, style=styles, workdir=workdir, **SETTINGS)
    results = batch.run_batch(config, LocalExecutor())

    assert [r.name for r in results] == [
        "beach-dots", "beach-waves", "broken-dots", "broken-waves", "city-dots", "city-waves"]
    assert [r.status for r in results] == ["done", "done", "failed", "failed", "done", "done"]
    assert all("broken.jpg" in r.message for r in results if r.status == "failed")
    rows = _rows(os.path.join(workdir, batch.SUMMARY_FILE))
    assert rows["city-waves"]["status"] == "done" and rows["city-waves"]["steps"] == "3"
    assert float(rows["city-waves"]["loss"]) > 0
    assert rows["broken-dots"]["status"] == "failed"
    # Each pair is the run a single command on that pair makes: same picture, own directory.
    pair = TransferConfig(content=os.path.join(photos, "city.png"),
                          style=os.path.join(styles, "waves.png"),
                          workdir=str(tmp_path / "single"), **SETTINGS)
    single = runner.run(pair)
    from_batch = images.load_image(os.path.join(workdir, "city-waves", "output.png"))
    np.testing.assert_allclose(from_batch, np.round(np.clip(single, 0, 255)), atol=1.0)
    for name in ("beach-dots", "city-waves"):
        assert os.path.isfile(os.path.join(workdir, name, "run.json"))
        assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(workdir, name)))
    assert not os.path.exists(os.path.join(workdir, "broken-dots"))


def test_a_rerun_skips_finished_pairs_and_resumes_the_rest(folders, tmp_path):
    photos, styles = folders
    workdir = str(tmp_path / "runs")
    config = TransferConfig(content=os.path.join(photos, "*.png"), style=styles,
                            workdir=workdir, **SETTINGS)
    # One pair stopped half way, as after Ctrl-C: 2 of its 3 steps in a checkpoint.
    pairs = {os.path.basename(run_identity.run_dir(c)): c for c in batch.pair_configs(config)}
    runner.run(dataclasses.replace(pairs["beach-waves"], iters=2, checkpoint_every=1))

    first = {r.name: r for r in batch.run_batch(config)}
    assert first["beach-waves"].status == "done" and first["beach-waves"].steps == 3
    assert {r.status for r in first.values()} == {"done"}
    output = os.path.join(workdir, "city-dots", "output.png")
    written = os.stat(output).st_mtime_ns

    again = batch.run_batch(config)
    assert [r.status for r in again] == ["skipped"] * 4
    assert again[0].steps == 3 and again[0].loss == pytest.approx(first[again[0].name].loss)
    assert os.stat(output).st_mtime_ns == written
    # More steps asked for: not finished any more, every pair resumes to the new count.
    longer = batch.run_batch(dataclasses.replace(config, iters=5))
    assert [(r.status, r.steps) for r in longer] == [("done", 5)] * 4
    # A changed photo is a different pair: not skipped (its directory refuses the new run).
    _write(os.path.join(photos, "city.png"), 64, 48, seed=9)
    changed = {r.name: r for r in batch.run_batch(dataclasses.replace(config, iters=5))}
    assert changed["city-dots"].status == "failed" and "--overwrite" in changed["city-dots"].message
    assert changed["beach-dots"].status == "skipped"


def test_comma_separated_styles_stay_one_blend_and_folders_split_them(folders, tmp_path):
    photos, styles = folders
    waves, dots = os.path.join(styles, "waves.png"), os.path.join(styles, "dots.png")
    assert batch.style_sets((waves, dots)) == [(waves, dots)]
    assert batch.style_sets((styles,)) == [(dots,), (waves,)]
    assert batch.style_sets((styles, waves)) == [(dots,), (waves,), (waves,)]
    config = TransferConfig(content=photos, style=(waves, dots), workdir=str(tmp_path / "r"))
    names = [os.path.basename(run_identity.run_dir(c)) for c in batch.pair_configs(config)]
    assert names == ["beach-waves+dots", "broken-waves+dots", "city-waves+dots"]
    assert batch.is_batch(config)
    assert not batch.is_batch(dataclasses.replace(config, content=waves))


def test_pair_names_stay_apart_when_file_names_collide(tmp_path):
    a = _write(str(tmp_path / "a" / "photo.jpg"), 40, 40, 1)
    b = _write(str(tmp_path / "a" / "photo.png"), 40, 40, 1)
    c = _write(str(tmp_path / "b" / "photo.png"), 40, 40, 1)
    style = _write(str(tmp_path / "style.png"), 40, 40, 2)
    names = batch._pair_names([a, b, c], [(style,)])
    assert sorted(names.values()) == ["photo.jpg-style", "photo.png-style", "photo.png~2-style"]


def test_output_names_one_file_so_a_batch_refuses_it(tmp_path):
    style = _write(str(tmp_path / "s.png"), 40, 40, 2)
    _write(str(tmp_path / "a.png"), 40, 40, 3)
    with pytest.raises(TransferError, match="--output names one file"):
        batch.pair_configs(TransferConfig(content=str(tmp_path / "*.png"), style=style,
                                          output="out.png"))


def test_contact_sheet_puts_each_result_under_its_style_beside_its_photo(folders, tmp_path):
    photos, styles = folders
    workdir = str(tmp_path / "runs")
    config = TransferConfig(content=photos, style=styles, workdir=workdir, **SETTINGS)
    results = batch.run_batch(config)
    sheet = images.load_image(os.path.join(workdir, batch.CONTACT_SHEET_FILE))
    cell, gap = 192, 8
    # Styles along the top (dots, waves), then beach and city; broken.jpg has no row.
    assert sheet.shape[:2] == (3 * cell + 2 * gap, 3 * cell + 2 * gap)
    city_waves = next(r for r in results if r.name == "city-waves")
    expected = images.resize_longest_side(images.load_image(city_waves.output), cell)
    height, width = expected.shape[:2]  # 192x144: centred in its cell
    top, left = 2 * (cell + gap), 2 * (cell + gap) + (cell - width) // 2
    np.testing.assert_allclose(sheet[top:top + height, left:left + width], expected, atol=2.0)
    assert np.all(sheet[:cell, :cell] == 255)  # the corner above the photos is empty


def test_the_command_runs_a_batch_and_exits_2_naming_each_bad_file_once(folders, tmp_path):
    photos, styles = folders
    workdir = str(tmp_path / "runs")
    completed = run_train("--content", photos, "--style", os.path.join(styles, "waves.png"),
                          "--workdir", workdir, "--weights", "random", "--size", "48",
                          "--iters", "2", "--progress=false")
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.count("broken.jpg: not an image file") == 1
    last = completed.stderr.strip().splitlines()[-1]
    assert last.startswith("train.py: error: 1 of 3 pairs failed")
    rows = _rows(os.path.join(workdir, batch.SUMMARY_FILE))
    assert [rows[name]["status"] for name in ("beach-waves", "broken-waves", "city-waves")] == [
        "done", "failed", "done"]
