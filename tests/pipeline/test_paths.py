"""File names as found: any bytes kept losslessly, symlinks kept as links, failed builds gone."""

import os
import shutil
from pathlib import Path

import pytest

from benchmarks.testbed import make_images
from lookalike.common.errors import InvalidArgument
from lookalike.indexer.local.collection import Collection
from lookalike.pipeline.build import BuildConfig, build_collection

NAMES = [b"caf\xe9.png", b"\xff\xfe broken.jpg", b"line\nbreak.png", "ünïcode ✓.png".encode(),
         b"plain.png"]


@pytest.fixture(scope="module")
def model(model_dir):
    from lookalike.encoder import checkpoint

    return checkpoint.load(model_dir)


def named_images(folder: Path, names: list[bytes]) -> list[bytes]:
    """One small image per raw file name; returns their absolute paths as bytes."""
    sources = make_images(folder / "src", count=len(names), size=32)
    made = []
    for source, name in zip(sources, names, strict=True):
        target = os.path.join(os.fsencode(folder), name)
        os.rename(os.fsencode(source), target + (b".jpg" if source.suffix == ".jpg" else b""))
        made.append(target + (b".jpg" if source.suffix == ".jpg" else b""))
    shutil.rmtree(folder / "src")
    return made


def stored_bytes(collection) -> list[bytes]:
    from lookalike.common.paths import local_path

    return sorted(os.fsencode(local_path(r.path)) for r in collection.store.rows())


def test_build_keeps_non_utf8_file_names_losslessly(tmp_path, model):
    """Issue 13, defect 4: build died after training (UnicodeEncodeError in the checksum)."""
    made = named_images(tmp_path / "images", NAMES)
    built = build_collection(tmp_path / "images", tmp_path / "out", BuildConfig(clusters=2),
                             model=model)
    with Collection.open(built.folder, read_only=True) as c:
        assert stored_bytes(c) == sorted(made)
        paths = [r.path for r in c.store.rows()]
    assert all(p.encode("utf-8") for p in paths)  # every stored path is valid UTF-8 text
    from lookalike.common.paths import stored_path

    assert stored_path("/a/caf\udce9.png") == "file:///a/caf%E9.png"


def test_a_failed_build_leaves_nothing_that_blocks_a_retry(tmp_path, model):
    """Issue 13, defect 4: a build that failed left a folder that "already holds a
    collection"; a duplicate id in the manifest is one such failure."""
    images = make_images(tmp_path / "images", count=3, size=32)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"path,id\n{images[0]},same\n{images[1]},same\n{images[2]},other\n")
    out = tmp_path / "out"
    with pytest.raises(InvalidArgument, match="same"):
        build_collection(bad, out, BuildConfig(clusters=2), model=model)
    assert sorted(os.listdir(tmp_path)) == ["bad.csv", "images"]  # no out, no leftovers
    good = tmp_path / "good.csv"
    good.write_text(f"path,id\n{images[0]},same\n{images[1]},other\n")
    build_collection(good, out, BuildConfig(clusters=2), model=model)
    with Collection.open(out, read_only=True) as c:
        assert len(c) == 2


@pytest.mark.parametrize("inside", [False, True], ids=["new-folder", "empty-folder"])
def test_a_killed_builds_work_folder_is_removed_by_the_next_build(tmp_path, model, inside):
    """kill -9 during a build leaves its hidden work folder; the next build that succeeds
    into the same --out removes it, and leaves other hidden folders alone."""
    images = make_images(tmp_path / "images", count=3, size=32)
    out = tmp_path / "out"
    killed = (out / ".building-k1l7") if inside else (tmp_path / ".out.building-k1l7")
    killed.mkdir(parents=True)
    (killed / "vectors.bin").write_bytes(b"half written")
    other = tmp_path / ".other.building-x"  # another --out's: not this build's business
    other.mkdir()
    build_collection(tmp_path / "images", out, BuildConfig(clusters=2), model=model)
    assert not killed.exists() and other.exists()
    with Collection.open(out, read_only=True) as c:
        assert len(c) == len(images)


def test_build_refuses_a_folder_that_is_not_empty(tmp_path, model, image_folder):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidArgument, match="not an empty folder"):
        build_collection(image_folder, tmp_path / "out", BuildConfig(clusters=2), model=model)
    assert os.listdir(tmp_path / "out") == ["notes.txt"]


def test_symlinked_files_keep_each_links_own_path(tmp_path, model):
    """Issue 13, defect 15: every link was stored with its target's path (Path.resolve)."""
    real = make_images(tmp_path / "images" / "real", count=2, size=32)
    for folder, name in [("animals", "cat.jpg"), ("pets", "kitty.jpg")]:
        (tmp_path / "images" / folder).mkdir()
        os.symlink(real[0], tmp_path / "images" / folder / name)
    built = build_collection(tmp_path / "images", tmp_path / "out", BuildConfig(clusters=2),
                             model=model)
    with Collection.open(built.folder, read_only=True) as c:
        paths = sorted(r.path for r in c.store.rows())
    root = os.path.abspath(tmp_path / "images")
    assert paths == sorted(os.path.join(root, p) for p in
                           ["animals/cat.jpg", "pets/kitty.jpg", "real/img_000.jpg",
                            "real/img_001.png"])
