"""A small real tmpfs for disk-full tests, where this machine lets us mount one."""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_tmpfs(size_bytes: int) -> Iterator[Path]:
    """A fresh tmpfs of size_bytes mounted on a temporary folder; skips the test where
    mounting is not permitted (not root, or a container without CAP_SYS_ADMIN)."""
    folder = Path(tempfile.mkdtemp(prefix="lookalike-tmpfs-"))
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs",
                               str(folder)], capture_output=True, text=True, timeout=30)
        failure = done.stderr.strip() if done.returncode else ""
    except (OSError, subprocess.SubprocessError) as exc:
        failure = str(exc)
    if failure:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({failure}); this disk-full test needs one")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)
        folder.rmdir()


def fill_disk(folder: Path) -> Path:
    """Writes a filler file until the disk holding folder has no byte left; returns it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 20, 1 << 14, 1 << 10, 1):
            block = b"\0" * size
            while True:
                try:
                    if os.write(fd, block) < size:
                        break
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler
