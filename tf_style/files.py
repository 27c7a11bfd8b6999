"""Files: which ones a folder or glob names, atomic writes, and content digests.

An atomic write goes to a temporary file beside the target, then a rename: a reader (or
a resumed run after SIGKILL) sees either the old file or the new one, never half of one.
"""

import contextlib
import glob
import hashlib
import os
import stat
import tempfile
from typing import IO, Iterator, List, Optional, Sequence

from absl import logging

from tf_style.config import VIDEO_EXTENSIONS
from tf_style.errors import TransferError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif",
                    ".avif", ".heic", ".heif", ".hif")
_GLOB_CHARACTERS = "*?["


def is_pattern(path: str) -> bool:
    """Whether `path` is a glob pattern (an existing file with * in its name is just a file)."""
    return any(character in path for character in _GLOB_CHARACTERS) and not os.path.exists(path)


def names_many(path: str) -> bool:
    """A folder or a glob pattern."""
    return os.path.isdir(path) or is_pattern(path)


def expand(path: str, what: str, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> List[str]:
    """The files with `extensions` a folder (sorted, hidden files left out) or a glob names;
    a file is itself. Raises TransferError when a folder or pattern names none."""
    if os.path.isdir(path):
        names = sorted(name for name in os.listdir(path) if not name.startswith("."))
        files = [os.path.join(path, name) for name in names
                 if os.path.splitext(name)[1].lower() in extensions
                 and os.path.isfile(os.path.join(path, name))]
        ignored = len(names) - len(files)
        if ignored:
            logging.info("%s: left out %d entries that are not %s", path, ignored,
                         "pictures or videos" if VIDEO_EXTENSIONS[0] in extensions else "pictures")
    elif is_pattern(path):
        files = sorted(match for match in glob.glob(path) if os.path.isfile(match))
    else:
        return [path]
    if not files:
        raise TransferError(f"{what} {path} names no image files "
                            f"({', '.join(extensions[:5])}, ...)")
    return files


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


def regular_file_inside(root: str, path: str) -> Optional[str]:
    """`path` with its links resolved, when that is a regular file inside `root` (whose own
    links are resolved too); None otherwise. What a server may hand out."""
    resolved_root = os.path.realpath(root)
    resolved = os.path.realpath(path)
    if os.path.commonpath([resolved_root, resolved]) != resolved_root or resolved == resolved_root:
        return None
    try:
        mode = os.stat(resolved, follow_symlinks=False).st_mode
    except OSError:
        return None
    return resolved if stat.S_ISREG(mode) else None
