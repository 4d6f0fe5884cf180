"""Writing files so that a crash never leaves a half-written one behind.

:func:`atomic_replace` is the one place that does it: a temporary file in the target's
folder (same file system, so the rename is atomic), flushed to disk, renamed over the
target, the folder flushed too. Text files (:func:`atomic_write_text`) and the search
index (:mod:`textgym.tools.search.index_file`, written by SQLite) both go through it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_replace", "atomic_write_text", "fsync_dir", "remove_stale_temp_files"]

#: Temporary files are ``.<name>.<random>.tmp`` beside the target.
TEMP_SUFFIX = ".tmp"


def fsync_dir(directory: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename in it) to disk, where the OS supports it."""
    with contextlib.suppress(OSError):  # not supported everywhere (e.g. Windows)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temp_files(
    directory: str | os.PathLike, name: str, older_than_s: float = 3600.0
) -> None:
    """Remove the temporary files that writers of ``name`` left when they died (a live
    writer's file is younger than ``older_than_s``)."""
    now = time.time()
    for stale in Path(directory).glob(f".{name}.*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            if now - stale.stat().st_mtime > older_than_s:
                stale.unlink()


@contextlib.contextmanager
def atomic_replace(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; when the block ends
    without an error the file is flushed to disk and renamed over ``path``, so readers see
    the old or the new file, whole. On any error (a full disk, say) the temporary file is
    removed and ``path`` is left as it was.

    The temporary file exists, empty, when the block starts, with the mode an ordinary
    ``open()`` would give it (not mkstemp's private 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    tmp = Path(name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        os.close(fd)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_replace`: readers see the old or
    the new file, whole, and an error leaves ``path`` as it was."""
    with atomic_replace(path) as tmp:
        tmp.write_text(text)
