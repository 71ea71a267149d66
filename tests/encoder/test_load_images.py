"""load_images on every core: the same images, order and skipped messages as one process."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from lookalike.common.pool import WorkerFailed, pool_size
from lookalike.encoder.data import load_images
from lookalike.pipeline.inputs import read_images

COUNT = 300  # enough for two workers to be started (see pool_size)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    """300 small JPEGs and PNGs with bad files among them: truncated in the middle, a
    non-image, an empty file, a folder named like an image."""
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    names = [root / f"{i:04d}.{'jpg' if i % 3 else 'png'}" for i in range(COUNT)]
    for name in names:
        Image.fromarray(rng.integers(0, 255, (48, 40, 3), np.uint8)).save(name)
    whole = names[151].read_bytes()
    names[150].write_bytes(whole[: len(whole) // 2])  # truncated, in the middle
    names[200].write_bytes(b"not an image at all")
    names[250].write_bytes(b"")
    names[260].unlink()
    names[260].mkdir()
    return root


def test_every_core_gives_what_one_process_gives(folder, caplog):
    paths = sorted(folder.iterdir())
    assert pool_size(len(paths), 2) == 2  # the parallel run really uses processes
    with caplog.at_level(logging.WARNING, logger="lookalike.encoder.data"):
        serial = load_images(paths, 32, workers=1)
        serial_log = caplog.messages[:]
        caplog.clear()
        parallel = load_images(paths, 32, workers=2)
    assert np.array_equal(serial[0], parallel[0])
    assert serial[1] == parallel[1]
    assert serial[2] == parallel[2]
    assert serial_log == caplog.messages
    failed = dict(parallel[2])
    assert sorted(failed) == [150, 200, 250, 260]
    assert "corrupt or truncated" in failed[150]
    assert "not an image Pillow can read" in failed[200]
    assert "empty" in failed[250]
    assert "is a folder, not an image" in failed[260]
    assert len(parallel[1]) == COUNT - 4 and parallel[0].shape == (COUNT - 4, 32, 32, 3)


def test_a_build_reads_the_same_with_any_worker_count(folder):
    one, many = (read_images(folder, 32, workers=w) for w in (1, 3))
    assert [s.query for s in one.sources] == [s.query for s in many.sources]
    assert np.array_equal(one.images, many.images) and np.array_equal(one.rows, many.rows)
    # A folder source lists files only: the folder named 0260.jpg is not a row here.
    assert one.skipped == many.skipped and len(one.skipped) == 3


class Unnameable:
    """A path-like item whose name cannot be read: a bug, as no source yields one."""

    def __str__(self) -> str:
        raise RuntimeError("this path has no name")


@pytest.mark.timeout(120)
def test_a_bug_in_a_worker_is_a_clear_error_not_a_hang(folder):
    """Bad files are skipped; anything else a worker raises stops the run with
    WorkerFailed, saying what and where."""
    paths: list = sorted(folder.iterdir())
    paths[170] = Unnameable()
    with pytest.raises(WorkerFailed, match=r"RuntimeError: this path has no name \(in a "
                                           r"worker process, on items 128 to 191"):
        load_images(paths, 32, workers=2)
