"""Crash-safe file writes: temp file in the same folder, fsync, rename, fsync the folder.

tempfile makes its files 0600 and its folders 0700, private to their owner. What lookalike
writes is for people and other processes to read (a report behind a web server, a collection
served by another user), so it gets the mode open() and mkdir() would give: the usual one,
less the umask.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes) -> str:
    """Writes data to path so a crash leaves either the old file or the new one.

    Returns:
        The sha256 hex digest of data, for the collection manifest.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, usual_mode(FILE_MODE))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return hashlib.sha256(data).hexdigest()


FILE_MODE = 0o666  # before the umask: what open() gives a new file
DIR_MODE = 0o777  # what mkdir() gives a new folder


def usual_mode(mode: int) -> int:
    """mode less this process's umask, as open() and mkdir() apply it."""
    return mode & ~_umask()


def _umask() -> int:
    # Linux reports it; elsewhere setting it is the only way to read it (and, briefly,
    # process-wide, hence only as a fallback).
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(folder: str | Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
