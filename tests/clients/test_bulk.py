"""`lookalike bulk`: outputs, bad rows, exit codes, resume, contact sheets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from lookalike.app.cli import main
from lookalike.clients.bulk_output import read_rows


@pytest.fixture(scope="module")
def manifest(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six good images and four bad rows: missing, corrupt, unreachable, refused format."""
    folder = tmp_path_factory.mktemp("manifest")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    Image.new("RGB", (80, 80), "red").save(folder / "image.ppm")  # the server refuses PPM
    good = [str(p) for p in sorted(image_folder.iterdir())[:6]]
    rows = good[:3] + ["missing.png", "corrupt.jpg", "http://127.0.0.1:9/x.jpg",
                       "image.ppm"] + good[3:]
    path = folder / "manifest.txt"
    path.write_text("\n".join(rows) + "\n")
    return path


def bulk(target: str, manifest: Path, out: Path, *extra: str) -> int:
    return main(["bulk", str(manifest), "--target", target, "--out", str(out), "-k", "3",
                 "-q", *extra])


def assert_same_rows(got: list[dict], expected: list[dict]) -> None:
    """Equal rows; distances to 1e-5, since the server may batch rows differently per run
    and the encoder's float sums differ in the last bits between batch sizes."""
    def shape(rows):
        return [({**r, "neighbors": [n["id"] for n in r["neighbors"]]}) for r in rows]

    assert shape(got) == shape(expected)
    for a, b in zip(got, expected, strict=True):
        assert [n["distance"] for n in a["neighbors"]] == pytest.approx(
            [n["distance"] for n in b["neighbors"]], rel=1e-5, abs=1e-6)


def test_every_row_is_written_in_order_with_its_error_and_exit_is_0(
        shared_target, manifest, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    assert bulk(shared_target, manifest, out) == 0
    assert "10 rows, 4 errors" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in rows] == list(range(10))
    assert [r["query"] for r in rows] == manifest.read_text().split()
    for row in rows[:3] + rows[7:]:
        assert row["error"] is None and len(row["neighbors"]) == 3
        assert row["neighbors"][0]["path"] == row["query"]
        assert set(row["neighbors"][0]) == {"id", "path", "distance", "cluster",
                                            "cluster_name", "labels", "attributes"}
    errors = [r["error"] for r in rows[3:7]]
    assert errors[0].startswith("NotFound: no such file") and errors[0].endswith("missing.png")
    assert errors[1].startswith("InvalidImage: ")
    assert errors[2].startswith("NotFound: http://127.0.0.1:9/x.jpg: could not fetch")
    assert errors[3] == ("InvalidImage: image format PPM is not accepted; use JPEG, PNG, "
                         "WebP, GIF, BMP or TIFF")
    assert all(r["cluster"] is None and r["neighbors"] == [] for r in rows[3:7])


def test_fail_on_error_exits_1(shared_target, manifest, tmp_path):
    assert bulk(shared_target, manifest, tmp_path / "r.jsonl", "--fail-on-error") == 1


def test_csv_output_is_one_line_per_row_with_json_neighbours(shared_target, manifest,
                                                             tmp_path):
    out = tmp_path / "results.csv"
    assert bulk(shared_target, manifest, out, "--concurrency", "2") == 0
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["row", "query", "id", "cluster", "error", "neighbors"]
    assert [int(r["row"]) for r in rows] == list(range(10))
    assert json.loads(rows[0]["neighbors"])[0]["path"] == rows[0]["query"]
    assert rows[3]["error"].startswith("NotFound") and rows[3]["cluster"] == ""
    assert read_rows(out)[0]["neighbors"] == json.loads(rows[0]["neighbors"])


def test_jsonl_manifest_ids_are_kept(shared_target, image_folder, tmp_path):
    manifest = tmp_path / "m.jsonl"
    paths = sorted(image_folder.iterdir())[:2]
    manifest.write_text("".join(json.dumps({"path": str(p), "id": f"q{i}"}) + "\n"
                                for i, p in enumerate(paths)))
    out = tmp_path / "r.jsonl"
    assert bulk(shared_target, manifest, out) == 0
    assert [r["id"] for r in read_rows(out)] == ["q0", "q1"]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_resume_drops_a_torn_line_and_skips_finished_rows(shared_target, manifest, tmp_path,
                                                          capsys, suffix):
    reference, out = tmp_path / f"reference{suffix}", tmp_path / f"out{suffix}"
    assert bulk(shared_target, manifest, reference) == 0
    lines = reference.read_text().splitlines(keepends=True)
    done = 4 + (suffix == ".csv")  # rows 0..3, after the CSV header
    out.write_text("".join(lines[:done]) + lines[done][:25])  # as if killed mid-write
    capsys.readouterr()
    assert bulk(shared_target, manifest, out, "--resume") == 0
    assert "6 rows, 3 errors" in capsys.readouterr().out  # rows 4..9 only
    assert_same_rows(read_rows(out), read_rows(reference))


def test_resume_on_a_finished_output_does_nothing(shared_target, manifest, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert bulk(shared_target, manifest, out) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert bulk(shared_target, manifest, out, "--resume") == 0
    assert f"{out} already holds all 10 rows; nothing to do" in capsys.readouterr().out
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        ("exists", (), "already exists; pass --resume to continue it or --overwrite"),
        ("other", ("--resume",), "row 0 does not match the manifest"),
        ("junk", ("--resume",), ":2: not a bulk output row"),
        (None, ("--concurrency", "0"), "concurrency must be at least 1, got 0"),
        (None, ("-k", "0"), "k must be at least 1, got 0"),
        (None, ("--resume", "--overwrite"), "give --resume or --overwrite, not both"),
    ],
)
def test_bad_bulk_requests_are_refused_with_a_message(shared_target, manifest, tmp_path,
                                                      capsys, setup, extra, message):
    out = tmp_path / "out.jsonl"
    row = {"row": 0, "query": "elsewhere.png", "id": None, "cluster": 1, "neighbors": [],
           "error": None}
    if setup == "exists":
        out.write_text("x\n")
    elif setup == "other":
        out.write_text(json.dumps(row) + "\n")
    elif setup == "junk":
        out.write_text(json.dumps({**row, "query": manifest.read_text().split()[0]})
                       + "\nnot json\n")
    assert bulk(shared_target, manifest, out, *extra) == 1
    assert message in capsys.readouterr().err


def test_output_must_be_jsonl_or_csv(shared_target, manifest, tmp_path, capsys):
    assert bulk(shared_target, manifest, tmp_path / "out.txt") == 1
    assert "the output must end in .jsonl or .csv" in capsys.readouterr().err


def test_contact_sheet_shows_every_row_with_thumbnails(shared_target, manifest, tmp_path):
    out, sheet = tmp_path / "r.jsonl", tmp_path / "sheet.html"
    assert bulk(shared_target, manifest, out, "--contact-sheet", str(sheet)) == 0
    page = sheet.read_text()
    assert page.count("<tr>") == 10 and "10 rows, 4 errors" in page
    assert "InvalidImage: image format PPM is not accepted" in page
    links = {part.split('"')[0] for part in page.split('src="')[1:]}
    assert links and all((tmp_path / link).is_file() for link in links)
    # 6 good queries, their neighbours among the 48 images, and readable bad-row queries.
    assert len(list((tmp_path / "sheet_files").iterdir())) == len(links)


def test_downsizing_in_worker_processes_writes_what_threads_write(shared_target, manifest,
                                                                  tmp_path):
    """300 rows, the bad ones in the middle: --workers 4 over one stream reads and downsizes
    in 4 processes (lookalike.common.pool), --workers 1 in the stream's threads."""
    from lookalike.common.pool import pool_size

    rows = manifest.read_text().split()
    many = tmp_path / "many.txt"
    lines = [rows[i % 3] if i % 2 else rows[7 + i % 3] for i in range(296)]
    lines[150:150] = rows[3:7]  # missing, corrupt, unreachable, refused format
    many.write_text("\n".join(str(manifest.parent / r) if not r.startswith(("/", "http"))
                              else r for r in lines) + "\n")
    assert pool_size(300, 4) == 2
    outs = {w: tmp_path / f"w{w}.jsonl" for w in (1, 4)}
    for workers, out in outs.items():
        assert bulk(shared_target, many, out, "--workers", str(workers),
                    "--concurrency", "1") == 0
    by_processes, by_threads = (read_rows(outs[w]) for w in (4, 1))
    assert_same_rows(by_processes, by_threads)
    errors = [r["error"] for r in by_processes if r["error"]]
    assert [r["row"] for r in by_processes if r["error"]] == [150, 151, 152, 153]
    assert errors[0].startswith("NotFound: no such file") and errors[1].startswith(
        "InvalidImage: ") and "could not fetch" in errors[2] and "PPM" in errors[3]


def test_each_stream_has_a_connection_of_its_own(shared_target, image_folder, caplog):
    """`serve --processes N` spreads connections, not calls, over its workers: three
    streams must arrive as three peers, or they would all land on one worker."""
    import logging

    from lookalike.clients import Client
    from lookalike.clients.bulk import BulkConfig, search_in_order
    from lookalike.common.sources import Source

    todo = [Source(i, str(p), str(p)) for i, p in enumerate(sorted(image_folder.iterdir())[:9])]
    caplog.set_level(logging.INFO, logger="lookalike.server.observe")
    with Client(shared_target) as client:
        outcomes = list(search_in_order(client, todo, BulkConfig(k=2, concurrency=3,
                                                                 workers=1)))
    assert [o.neighbors[0].path for o in outcomes] == [s.location for s in todo]
    calls = [(r.rpc_method, r.peer) for r in caplog.records if hasattr(r, "rpc_method")]
    stream_peers = [peer for method, peer in calls if method.endswith("/SearchStream")]
    # Three connections were opened (each asks Info once). A stream opens its call only
    # when it gets a row, so on a loaded machine one may finish before another starts;
    # what must hold is that no two streams share a connection.
    assert len({peer for _, peer in calls}) == 3
    assert stream_peers and len(set(stream_peers)) == len(stream_peers)
