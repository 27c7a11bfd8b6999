"""Holding back what C code writes to file descriptor 2."""

import ctypes
import os

import pytest

from tf_style import stderr


def _c_write(text: str) -> None:
    """Writes to file descriptor 2 the way a C library does, past Python's sys.stderr."""
    data = text.encode()
    ctypes.CDLL(None).write(2, data, len(data))


def test_c_level_output_is_held_back_and_readable(capfd):
    with stderr.held_back() as held:
        _c_write("libtiff: something is wrong\n")
        assert held.text() == "libtiff: something is wrong\n"
    assert capfd.readouterr().err == ""
    _c_write("after\n")
    assert capfd.readouterr().err == "after\n"


def test_replayed_when_the_block_fails_unless_told_not_to(capfd):
    before = os.fstat(2)
    with pytest.raises(ValueError):
        with stderr.held_back(replay_on_error=True):
            _c_write("why it failed\n")
            raise ValueError("failed")
    assert capfd.readouterr().err == "why it failed\n"
    with pytest.raises(KeyError):
        with stderr.held_back(replay_on_error=True, unless=(KeyError,)):
            _c_write("chatter\n")
            raise KeyError("stopped")
    assert capfd.readouterr().err == ""
    after = os.fstat(2)  # descriptor 2 is the file it was, not the holding one
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
