"""File helpers: atomic writes and content digests.

An atomic write goes to a temporary file beside the target, then a rename: a reader (or
a resumed run after SIGKILL) sees either the old file or the new one, never half of one.
"""

import contextlib
import hashlib
import os
import tempfile
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_write(path: str, binary: bool = True) -> Iterator[IO]:
    """Yields a file to write; on success it replaces `path`, on error it is removed."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(descriptor, "wb" if binary else "w") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; use the usual mode
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def file_digest(path: str, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def path_digest(path: str) -> str:
    """`file_digest` of a file; of a folder (a video's frames), one digest over the names and
    digests of the files in it, hidden ones left out."""
    if not os.path.isdir(path):
        return file_digest(path)
    digest = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        member = os.path.join(path, name)
        if not name.startswith(".") and os.path.isfile(member):
            digest.update(f"{name}\0{file_digest(member)}\0".encode())
    return digest.hexdigest()
