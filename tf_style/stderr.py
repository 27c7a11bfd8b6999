"""What C libraries write straight to the process's standard error (file descriptor 2).

TensorFlow's start-up lines and some image decoders' complaints (libtiff's) go there,
past Python's `sys.stderr` and logging; `held_back` catches them so the caller decides.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import IO, Iterator, Tuple, Type


class HeldBack:
    """What has been written to file descriptor 2 in a `held_back` block so far."""

    def __init__(self, file: IO[bytes]):
        self._file = file

    def text(self) -> str:
        sys.stderr.flush()
        self._file.seek(0)
        text = self._file.read().decode(errors="replace")
        self._file.seek(0, os.SEEK_END)
        return text


@contextlib.contextmanager
def held_back(replay_on_error: bool = False,
              unless: Tuple[Type[BaseException], ...] = ()) -> Iterator[HeldBack]:
    """Holds back everything written to file descriptor 2 in the block (C libraries too).

    With `replay_on_error`, what was held back is written out if the block raises an
    exception, unless it is one of `unless` (a stop the caller reports in its own line).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as file:
        held = HeldBack(file)
        os.dup2(file.fileno(), 2)
        try:
            yield held
        except Exception as error:
            if replay_on_error and not isinstance(error, unless):
                text = held.text()
                os.dup2(saved, 2)
                sys.stderr.write(text)
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
