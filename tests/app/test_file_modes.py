"""Every file lookalike writes for people (or another user's server) to read gets the mode
open() and mkdir() give, less the umask: never tempfile's private 0600 / 0700."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lookalike.app.cli import main


@pytest.fixture
def umask_027():
    """A umask other than the usual 022, so the test tells 'respects the umask' from 0644."""
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def wrong_modes(folder: Path) -> dict[str, str]:
    """Every file not 0640 and every folder not 0750 under folder (itself included)."""
    wrong = {}
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode != (0o750 if path.is_dir() else 0o640):
            wrong[str(path.relative_to(folder.parent))] = oct(mode)
    return wrong


def test_every_file_written_for_people_respects_the_umask(shared_target, built_collection,
                                                          image_folder, tmp_path, umask_027,
                                                          capsys):
    out = tmp_path / "out"
    out.mkdir()
    image = str(sorted(image_folder.iterdir())[0])
    model = str(built_collection / "model")
    commands = [
        ["report", str(built_collection), "--out", f"{out}/report",
         "--export-labels", f"{out}/labels.csv"],
        ["search", image, "--target", shared_target, "--plot", f"{out}/plot.png"],
        ["bulk", str(image_folder), "--target", shared_target, "--out", f"{out}/rows.jsonl",
         "--contact-sheet", f"{out}/sheet.html", "-q", "--workers", "1"],
        ["bulk", str(image_folder), "--target", shared_target, "--out", f"{out}/rows.csv",
         "-q", "--workers", "1"],
        ["embed", model, str(image_folder), "--out", f"{out}/vectors.npz", "--workers", "1"],
        # With --model the build embeds only: the collection folder, its model and store.
        ["build", str(image_folder), "--out", f"{out}/collection", "--model", model,
         "--clusters", "2", "--workers", "1"],
    ]
    for argv in commands:
        assert main(argv) == 0, (argv, capsys.readouterr().err)
    written = {p.relative_to(out).parts[0] for p in out.iterdir()}
    assert written >= {"report", "labels.csv", "plot.png", "rows.jsonl", "sheet.html",
                       "sheet_files", "rows.csv", "vectors.npz", "collection"}
    assert (out / "report" / "index.html").exists()
    assert (out / "collection" / "model").is_dir()
    assert wrong_modes(out) == {}
