"""Writing a new collection folder, whatever its store: built beside its target, moved into place
when whole."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from lookalike.common.atomic import DIR_MODE, fsync_dir, usual_mode
from lookalike.common.errors import InvalidArgument
from lookalike.indexer.disk import refuse_when_full
from lookalike.indexer.manifest import (
    DATABASE_FILE,
    MANIFEST_FILE,
    MODEL_DIR,
    Manifest,
    checksum_files,
)

BUILDING = ".building-"  # prefix of the folder a build writes into before it is whole
# A model folder to copy, or a function that saves the model into the folder it is given.
ModelSource = str | Path | Callable[[Path], object]


def refuse_existing(folder: Path) -> None:
    """Refuses a folder that holds a collection or anything else: building never overwrites,
    and never mixes a collection into a folder of other files."""
    if (folder / DATABASE_FILE).exists() or (folder / MANIFEST_FILE).exists():
        raise InvalidArgument(f"{folder} already holds a collection; choose another --out")
    if folder.exists() and (not folder.is_dir() or _contents(folder)):
        raise InvalidArgument(f"{folder} exists and is not an empty folder; choose another --out")


def _contents(folder: Path) -> list[Path]:
    """What folder holds, less what a killed build left in it."""
    return [p for p in folder.iterdir() if not p.name.startswith(BUILDING)]


# Writes a collection's store files into the work folder; returns the names of those that
# never change afterwards, for the manifest to checksum.
StoreWriter = Callable[[Path], list[str]]


def write_folder(folder: Path, model: ModelSource, manifest: Manifest,
                 write_store: StoreWriter) -> None:
    """Writes every file into a hidden work folder, then moves it into place when whole.

    A new folder is a renamed sibling (.NAME.building-*), so it appears whole or not at all.
    An existing empty folder (a mount point, say, which cannot be renamed over) gets a work
    folder inside it whose files move up, the manifest last. On any failure (a full disk, a
    bad row) the work folder is removed, so nothing blocks a retry; after a kill -9 only a
    hidden work folder remains, which a retry ignores and removes once it has succeeded.

    model is a model folder, copied in, or a function that saves the model straight into
    the work folder's model folder (a build's freshly trained model, with no copy).
    """
    refuse_existing(folder)
    inside = folder.is_dir()
    base = folder if inside else folder.parent
    with refuse_when_full(folder):
        base.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=BUILDING if inside else f".{folder.name}{BUILDING}",
                                     dir=base))
        os.chmod(work, usual_mode(DIR_MODE))  # it becomes the collection: not mkdtemp's 0700
    try:
        with refuse_when_full(folder):
            _write_files(work, model, manifest, write_store)
            if inside:
                _move_up(work, folder)
            else:
                os.rename(work, folder)
            fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    # Work folders of builds killed before they finished (kill -9, a power cut): any other
    # build into this folder could only fail now that it holds a collection.
    for stale in base.glob(f"{BUILDING}*" if inside else f".{folder.name}{BUILDING}*"):
        shutil.rmtree(stale, ignore_errors=True)


def _write_files(work: Path, model: ModelSource, manifest: Manifest,
                 write_store: StoreWriter) -> None:
    (work / MODEL_DIR).mkdir()
    if callable(model):
        model(work / MODEL_DIR)
    else:
        for entry in Path(model).iterdir():  # file by file: copytree hides ENOSPC in a list
            shutil.copyfile(entry, work / MODEL_DIR / entry.name)
    fixed = write_store(work)
    model_files = sorted((work / MODEL_DIR).iterdir())
    for file in model_files:  # copies are not fsynced; the rename must not outrun the data
        with open(file, "rb") as f:
            os.fsync(f.fileno())
    fsync_dir(work / MODEL_DIR)
    manifest.checksums = checksum_files(
        work, [f"{MODEL_DIR}/{p.name}" for p in model_files] + fixed)
    manifest.write(work)


def _move_up(work: Path, folder: Path) -> None:
    # The manifest last: it is what makes the folder a collection.
    for entry in sorted(work.iterdir(), key=lambda p: p.name == MANIFEST_FILE):
        os.rename(entry, folder / entry.name)
    work.rmdir()
    fsync_dir(folder)
