"""A build on a full disk refuses with StorageFull and leaves nothing behind."""

import os

import pytest

from benchmarks.testbed import make_images
from lookalike.common.errors import StorageFull
from lookalike.indexer.local.collection import Collection
from lookalike.pipeline.build import BuildConfig, build_collection
from tests.tmpfs import fill_disk, small_tmpfs


def test_a_build_on_a_full_disk_leaves_nothing_and_a_mount_point_can_be_the_output(
        tmp_path, model_dir):
    from lookalike.encoder import checkpoint

    model = checkpoint.load(model_dir)
    make_images(tmp_path / "images", count=4, size=32)
    config = BuildConfig(clusters=2)
    with small_tmpfs(12 << 20) as disk:
        filler = fill_disk(disk)
        with pytest.raises(StorageFull, match="disk is full"):
            build_collection(tmp_path / "images", disk / "out", config, model=model)
        assert os.listdir(disk) == ["filler"]  # no half-made collection, no work folder
        filler.unlink()
        # The mount point itself, empty, as --out: it cannot be renamed over.
        build_collection(tmp_path / "images", disk, config, model=model)
        with Collection.open(disk) as c:
            assert len(c) == 4
        assert not [p for p in os.listdir(disk) if p.startswith(".")]
