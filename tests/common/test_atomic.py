import hashlib
import os

import pytest

from lookalike.common.atomic import atomic_write_bytes


def test_atomic_write_replaces_whole_file_and_returns_checksum(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old contents")
    digest = atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert digest == hashlib.sha256(b"new").hexdigest()
    assert os.listdir(tmp_path) == ["f.bin"]  # no temp file left behind


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_an_atomic_write_gets_the_mode_open_would_give(tmp_path, umask):
    """Not mkstemp's 0600: a report's index.html behind a web server must be readable."""
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "atomic.html", b"<p>")
        (tmp_path / "plain.html").write_bytes(b"<p>")
    finally:
        os.umask(old)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()}
    assert modes["atomic.html"] == modes["plain.html"] == oct(0o666 & ~umask)
