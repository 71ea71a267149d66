"""`lookalike duplicates` on a collection folder: groups out, exact copies flagged, nothing
changed, a clear error for a threshold that means nothing."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from benchmarks.testbed import make_collection, make_images
from lookalike.app.cli import main
from lookalike.indexer.local.collection import Collection


def copies_collection(root, model_dir):
    """Eight images: 0 and its byte copy 6, 1 and its pixel copy 7 (other bytes), 2 and a
    near vector 3 (2 is twice as large, so it represents them), 4 and 5 far from all; no
    calibration. Returns the collection folder (root/collection; images in root/images)."""
    paths = make_images(root / "images", 6)
    shutil.copy(paths[0], root / "images" / "byte_copy.jpg")
    Image.open(paths[1]).save(root / "images" / "pixel_copy.png", compress_level=1)
    Image.open(paths[2]).resize((192, 192)).save(paths[2])
    paths += [root / "images" / "byte_copy.jpg", root / "images" / "pixel_copy.png"]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(8, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[6] = vectors[0] + 1e-4  # the embedding's noise: grouped by bytes anyway
    vectors[7] = vectors[1]
    vectors[3] = vectors[2] + 0.02
    folder = root / "collection"
    make_collection(folder, model_dir, vectors, k=2, nprobe=2,
                    paths=[str(p) for p in paths], ids=[f"im{i}" for i in range(8)]).close()
    return folder


@pytest.fixture
def copies(tmp_path, model_dir):
    return copies_collection(tmp_path, model_dir)


def test_groups_are_written_with_exact_flags_and_representatives(copies, tmp_path, capsys):
    out, sheet = tmp_path / "groups.jsonl", tmp_path / "dups.html"
    before = {p.name: p.read_bytes() for p in copies.iterdir() if p.is_file()}
    with Collection.open(copies):  # a writer holds the folder: the command only reads
        assert main(["duplicates", str(copies), "--threshold", "0.01", "--out", str(out),
                     "--contact-sheet", str(sheet)]) == 0
    assert "3 groups" in capsys.readouterr().out
    records = [json.loads(line) for line in out.read_text().splitlines()]
    groups: dict[int, list] = {}
    for r in records:
        groups.setdefault(r["group"], []).append(r)
    members = {frozenset(r["id"] for r in g) for g in groups.values()}
    assert members == {frozenset({"im0", "im6"}), frozenset({"im1", "im7"}),
                       frozenset({"im2", "im3"})}
    for g in groups.values():
        rep = [r for r in g if r["representative"]]
        assert len(rep) == 1 and g[0] is rep[0] and rep[0]["distance"] == 0
        ids = {r["id"] for r in g}
        other = next(r for r in g if not r["representative"])
        assert other["exact"] == (ids != {"im2", "im3"})
        if ids == {"im2", "im3"}:
            assert rep[0]["id"] == "im2" and 0 < other["distance"] <= 0.01
    assert {p.name: p.read_bytes() for p in copies.iterdir() if p.is_file()} == before
    assert sheet.read_text().count("<tr>") == 3


def test_csv_and_a_missing_file_gets_a_placeholder(copies, tmp_path):
    (tmp_path / "images" / "img_004.jpg").unlink()
    out, sheet = tmp_path / "groups.csv", tmp_path / "dups.html"
    assert main(["duplicates", str(copies), "--threshold", "3.9", "--out", str(out),
                 "--contact-sheet", str(sheet), "--no-read-files"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert rows and set(rows[0]) >= {"group", "id", "path", "distance", "representative",
                                     "exact"}
    assert "not readable" in sheet.read_text()


@pytest.mark.parametrize("flags, says", [
    (["--threshold", "-1"], "at least 0"), (["--threshold", "nan"], "NaN"),
    (["--threshold", "10"], "one group"), ([], "--threshold")])
def test_a_threshold_that_means_nothing_is_a_clear_error(copies, capsys, flags, says):
    assert main(["duplicates", str(copies), *flags]) == 1
    assert says in capsys.readouterr().err


def test_a_built_collection_uses_its_calibrated_threshold(built_collection, capsys):
    assert main(["duplicates", str(built_collection)]) == 0
    assert main(["duplicates", str(built_collection), "--strict"]) == 0
    assert "groups" in capsys.readouterr().out


def test_through_a_server_the_same_groups_are_written(copies, tmp_path, capsys):
    from tests.server.conftest import running_server

    local, served = tmp_path / "local.jsonl", tmp_path / "served.jsonl"
    sheet = tmp_path / "served.html"
    assert main(["duplicates", str(copies), "--threshold", "0.01", "--out", str(local)]) == 0
    with running_server(copies) as (_, target):
        assert main(["duplicates", "--target", target, "--threshold", "0.01", "--out",
                     str(served), "--contact-sheet", str(sheet)]) == 0
        assert main(["duplicates", "--target", target, "--threshold", "0.01",
                     "--out", str(tmp_path / "served.csv")]) == 0
        assert main(["duplicates", str(copies), "--target", target]) == 1
        assert "not both" in capsys.readouterr().err
        assert main(["duplicates", "--target", target]) == 1  # no calibration: say so
        assert "--threshold" in capsys.readouterr().err
    assert served.read_bytes() == local.read_bytes()
    assert len(list(csv.DictReader((tmp_path / "served.csv").open()))) == 6
    page = sheet.read_text()
    # No file is read on this side: every picture is a placeholder, and the page says why.
    assert page.count('"missing">no picture<') == 6 and "<img" not in page
    assert "Found by a server" in page
    assert not (tmp_path / "served_files").exists()


def test_through_a_server_a_built_collection_uses_its_calibration(built_collection, capsys):
    from lookalike.clients import Client
    from tests.server.conftest import running_server

    with running_server(built_collection) as (_, target):
        with Client(target) as client:
            calibration = client.info().duplicate_calibration
        for flags, threshold in (([], calibration.threshold), (["--strict"], calibration.strict),
                                 (["--loose"], calibration.loose)):
            assert main(["duplicates", "--target", target, *flags]) == 0
            assert f"threshold {threshold:.4g}" in capsys.readouterr().out


def test_lookalike_info_shows_the_calibration(shared_target, capsys):
    assert main(["info", "--target", shared_target]) == 0
    shown = json.loads(capsys.readouterr().out)["duplicate_calibration"]
    assert set(shown) == {"threshold", "strict", "loose"}
    assert 0 <= shown["strict"] <= shown["threshold"] <= shown["loose"]


@pytest.mark.parametrize("n", [1])
def test_a_collection_of_one_image_is_a_clear_error(tmp_path, model_dir, capsys, n):
    from benchmarks.testbed import blob_vectors

    make_collection(tmp_path / "c", model_dir, blob_vectors(n), k=1).close()
    assert main(["duplicates", str(tmp_path / "c"), "--threshold", "0.1"]) == 1
    assert "holds 1 image: duplicates need two or more" in capsys.readouterr().err
