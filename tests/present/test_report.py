"""`lookalike report`: the files it writes, the page linking them, the labels CSV."""

import csv
import json
import re

import numpy as np
import pytest
from PIL import Image

from benchmarks.testbed import blob_vectors, make_collection, make_images
from lookalike.app.cli import main
from lookalike.present.report import ReportConfig, write_report


@pytest.fixture
def pictured(tmp_path, model_dir):
    """60 rows: 58 with real image files, one missing file and one URL (placeholders)."""
    paths = [str(p) for p in make_images(tmp_path / "imgs", count=58, size=32)]
    paths += [str(tmp_path / "gone.png"), "https://example.invalid/x.png"]
    c = make_collection(tmp_path / "c", model_dir, blob_vectors(n=60, centres=4), k=4,
                        paths=paths, ids=[f"img-{i}" for i in range(60)])
    yield c
    c.close()


def test_report_writes_every_file_and_the_page_links_them(pictured, tmp_path):
    written = write_report(pictured, tmp_path / "report", ReportConfig(tsne_sample=40))
    for name, path in written.files.items():
        assert path.exists() and path.stat().st_size > 0, name
        if name.endswith(".png"):
            with Image.open(path) as image:
                assert image.size[0] > 100 and image.size[1] > 50
    page = written.html.read_text()
    links = set(re.findall(r'(?:src|href)="([^"]+)"', page))
    assert links == {"tsne.png", "k_scores.png", "sizes.png", "montage.png", "sizes.csv",
                     "sizes.json"}
    assert "a random sample of 40 of 60 images" in page
    assert "duplicate_threshold</b>: not calibrated" in page  # made from vectors, not built
    sizes = json.loads((tmp_path / "report" / "sizes.json").read_text())["sizes"]
    assert sizes == pictured.cluster_sizes() and sum(sizes) == 60
    rows = list(csv.reader((tmp_path / "report" / "sizes.csv").open()))
    assert rows[0] == ["cluster", "size"] and [int(r[1]) for r in rows[1:]] == sizes


def test_small_collections_use_every_point(pictured, tmp_path):
    written = write_report(pictured, tmp_path / "r", ReportConfig(tsne_sample=3000))
    assert "all 60 images" in written.html.read_text()


def test_unreadable_images_become_placeholders(pictured, tmp_path):
    from lookalike.present.report_plots import tile

    grey = np.asarray(tile(str(tmp_path / "gone.png")))
    assert (grey[5:10, 30:34] == 200).all() and list(grey[32, 32]) == [150, 0, 0]  # red cross
    real = np.asarray(tile(pictured.rows()[0].path))
    assert not np.array_equal(real, grey)


def test_cli_report_and_label_export(pictured, tmp_path, capsys):
    labels = tmp_path / "clusters.csv"
    code = main(["report", str(pictured.folder), "--out", str(tmp_path / "cli-report"),
                 "--export-labels", str(labels), "--tsne-sample", "30"])
    assert code == 0
    assert "index.html" in capsys.readouterr().out
    got = list(csv.DictReader(labels.open()))
    expected = [{"id": r.id, "path": r.path, "cluster": str(r.cluster)}
                for r in pictured.rows()]
    assert got == expected and len(got) == 60


def test_cli_report_rejects_a_bad_sample_size(pictured, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["report", str(pictured.folder), "--out", str(tmp_path / "x"), "--tsne-sample", "0"])
    assert "must be a whole number of at least 1, got '0'" in capsys.readouterr().err


def test_cli_report_on_a_missing_collection(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 1
    assert "not a lookalike collection" in capsys.readouterr().err


def test_montage_rows_put_the_largest_cluster_first(tmp_path):
    from lookalike.present.report_plots import THUMB, montage

    white, black = tmp_path / "white.png", tmp_path / "black.png"
    Image.new("RGB", (THUMB, THUMB), (255, 255, 255)).save(white)
    Image.new("RGB", (THUMB, THUMB), (0, 0, 0)).save(black)
    sizes = [3, 9]  # cluster 1 is the larger
    samples = {1: [str(black)], 0: [str(white)]}
    montage(samples, sizes, tmp_path / "m.png")
    sheet = np.asarray(Image.open(tmp_path / "m.png").convert("L"))
    first_tile = sheet[THUMB // 2, -THUMB // 2]
    second_tile = sheet[THUMB + 4 + THUMB // 2, -THUMB // 2]
    assert (first_tile, second_tile) == (0, 255)


def test_report_samples_clusters_largest_first(pictured):
    from lookalike.present.report import _samples

    sizes = pictured.cluster_sizes()
    order = list(_samples(pictured.rows(), sizes, ReportConfig(),
                          np.random.default_rng(0)))
    assert [sizes[c] for c in order] == sorted(sizes, reverse=True)
