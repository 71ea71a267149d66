"""One writer per collection folder: an exclusive flock that names the process holding it."""

from __future__ import annotations

import fcntl
import mmap
import os
from pathlib import Path

import numpy as np

from lookalike.common.errors import CollectionLocked, Unavailable

LOCK_FILE = "collection.lock"


class FolderLock:
    """Holds DIR/collection.lock exclusively until close(), with this process's id inside.

    The kernel drops a flock when its holder exits, kill -9 included, so a crashed server
    never leaves a stale lock behind; the id it wrote is only read for the message.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(self._fd)
            os.close(self._fd)
            raise CollectionLocked(
                f"collection {folder} is already open by process {holder}; two processes "
                "writing one collection would drift apart. Stop that process first (read-only "
                "tools such as `lookalike report` may still open it)"
            ) from None
        except BaseException:
            os.close(self._fd)
            raise
        try:  # fixed width, in place: no new block is needed, even on a full disk
            os.pwrite(self._fd, f"{os.getpid():<15}\n".encode(), 0)
        except OSError:
            pass  # the id is only for the message others get; the lock is what counts

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the flock
            self._fd = -1


def _holder(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return text if text.isdigit() else "(unknown)"


WRITE_LOCK_FILE = "collection.write.lock"
PUBLISHED_BYTES = 8


def require_holder(folder: Path) -> None:
    """Refuses a shared open when no process (the server group's parent) holds the folder's
    lock: without it, a plain writer could open the folder beside the group.

    Raises:
        Unavailable: nobody holds DIR/collection.lock.
    """
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # held, as it should be
    finally:
        os.close(fd)  # releases the probe's lock, if it got one
    raise Unavailable(
        f"collection {folder} is opened shared, but no process holds its lock: the server "
        "group's parent must hold FolderLock(folder) while its workers run")


class GroupWriteLock:
    """DIR/collection.write.lock, held exclusively by one process of a server group for the
    length of one write, so writes (and the catch-up before them) never interleave.

    A blocking flock: writers queue in the kernel, and one killed mid-write releases it.
    The file's first 8 bytes, mapped shared by every process of the group, hold the number
    of the last change-log entry a writer published: reading it costs a memory load, where
    asking SQLite (PRAGMA data_version) takes its read lock and a few system calls.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / WRITE_LOCK_FILE
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(self._fd).st_size < PUBLISHED_BYTES:
                os.ftruncate(self._fd, PUBLISHED_BYTES)  # zeros; growing it twice is harmless
            self._map = mmap.mmap(self._fd, PUBLISHED_BYTES)
        except BaseException:
            os.close(self._fd)
            raise
        self._published = np.frombuffer(self._map, np.int64, 1)  # one aligned 8-byte word

    def published(self) -> int:
        """The last change-log entry a writer of the group published."""
        return int(self._published[0])

    def publish(self, seq: int) -> None:
        """Called holding the lock, after a write committed and before it is acknowledged."""
        self._published[0] = seq

    def acquire(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            del self._published
            self._map.close()
            os.close(self._fd)
            self._fd = -1
