"""Files: folders and globs to files, atomic writes, digests."""

import hashlib
import os

import pytest

from tf_style import files
from tf_style.errors import TransferError


def _touch(path, data=b"x"):
    with open(path, "wb") as file:
        file.write(data)
    return str(path)


def test_a_folder_names_its_pictures_sorted_without_hidden_files_or_folders(tmp_path):
    for name in ("b.JPG", "a.png", ".hidden.png", "notes.txt", "c.webp"):
        _touch(tmp_path / name)
    (tmp_path / "sub.png").mkdir()  # a folder with a picture's name is not a picture
    assert files.expand(str(tmp_path), "--content") == [
        str(tmp_path / name) for name in ("a.png", "b.JPG", "c.webp")]


def test_videos_count_only_where_asked_for(tmp_path):
    _touch(tmp_path / "a.png")
    _touch(tmp_path / "clip.mp4")
    assert files.expand(str(tmp_path), "--style") == [str(tmp_path / "a.png")]
    with_videos = files.IMAGE_EXTENSIONS + (".mp4",)
    assert files.expand(str(tmp_path), "--content", with_videos) == [
        str(tmp_path / "a.png"), str(tmp_path / "clip.mp4")]


def test_a_glob_names_the_files_it_matches_and_a_file_is_itself(tmp_path):
    for name in ("x1.jpg", "x2.jpg", "y.jpg"):
        _touch(tmp_path / name)
    assert files.expand(str(tmp_path / "x*.jpg"), "--content") == [
        str(tmp_path / "x1.jpg"), str(tmp_path / "x2.jpg")]
    assert files.is_pattern(str(tmp_path / "x*.jpg"))
    # A file whose name holds * is a file, not a pattern; a missing file stays itself (the
    # image loader says it is missing).
    odd = _touch(tmp_path / "odd*.jpg")
    assert not files.is_pattern(odd) and files.expand(odd, "--content") == [odd]
    assert files.expand(str(tmp_path / "missing.jpg"), "--content") == [
        str(tmp_path / "missing.jpg")]


def test_folders_and_patterns_that_name_no_image_are_one_clear_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _touch(empty / "readme.txt")
    with pytest.raises(TransferError, match="names no image files"):
        files.expand(str(empty), "--content")
    with pytest.raises(TransferError, match="names no image files"):
        files.expand(str(tmp_path / "*.jpg"), "--content")


def test_an_atomic_write_replaces_the_file_whole_or_not_at_all(tmp_path):
    path = str(tmp_path / "out" / "record.json")
    with files.atomic_write(path, binary=False) as file:
        file.write("first")
    with pytest.raises(RuntimeError):
        with files.atomic_write(path, binary=False) as file:
            file.write("half of the seco")
            raise RuntimeError("the writer failed")
    with open(path) as file:
        assert file.read() == "first"
    assert os.listdir(tmp_path / "out") == ["record.json"]  # no temporary file left behind


def test_an_atomic_write_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with files.atomic_write(str(tmp_path / "image.png")) as file:
            file.write(b"png")
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / "image.png").st_mode & 0o777 == 0o644


def test_digests_are_sha256_of_the_bytes_and_of_a_folder_of_frames(tmp_path):
    data = os.urandom(3 << 20)  # more than one 1 MiB chunk
    path = _touch(tmp_path / "big.bin", data)
    assert files.file_digest(path) == hashlib.sha256(data).hexdigest()
    assert files.path_digest(path) == hashlib.sha256(data).hexdigest()

    frames = tmp_path / "frames"
    frames.mkdir()
    _touch(frames / "f2.png", b"two")
    _touch(frames / "f1.png", b"one")
    _touch(frames / ".DS_Store", b"hidden")
    expected = hashlib.sha256()
    for name, content in (("f1.png", b"one"), ("f2.png", b"two")):
        expected.update(f"{name}\0{hashlib.sha256(content).hexdigest()}\0".encode())
    assert files.path_digest(str(frames)) == expected.hexdigest()
    _touch(frames / "f2.png", b"TWO")
    assert files.path_digest(str(frames)) != expected.hexdigest()
