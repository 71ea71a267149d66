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
