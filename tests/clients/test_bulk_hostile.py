"""`lookalike bulk` on hostile rows: non-UTF-8, newline and control-character file names,
fields over csv's 128 KiB default limit, raw non-UTF-8 manifests (issue 13, 9 and 10)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lookalike.app.cli import main
from lookalike.clients.bulk_output import read_rows

HOSTILE_NAMES = [b"plain.png", b"caf\xe9 \xff.png", b"new\nline.png", b'"quoted", \r.png',
                 b"tab\tesc\x1b nul-less \xc2\x85.png"]
LONG_QUERY = "missing/" + "x" * 200_000 + ".png"


@pytest.fixture(scope="module")
def hostile_files(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Copies of real images under file names that break naive CSV and UTF-8 handling."""
    folder = tmp_path_factory.mktemp("hostile")
    paths = []
    for name, source in zip(HOSTILE_NAMES, sorted(image_folder.iterdir()), strict=False):
        path = folder / os.fsdecode(name)
        path.write_bytes(source.read_bytes())
        paths.append(str(path))
    return paths


def bulk(target: str, manifest: Path, out: Path, *extra: str) -> int:
    return main(["bulk", str(manifest), "--target", target, "--out", str(out), "-k", "2",
                 "-q", *extra])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_every_hostile_row_is_one_line_that_resume_reads_back(shared_target, hostile_files,
                                                              tmp_path, capsys, suffix):
    queries = [*hostile_files, LONG_QUERY]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"path": q, "id": f"q{i}\n"}) + "\n"
                                for i, q in enumerate(queries)))
    out, sheet = tmp_path / f"out{suffix}", tmp_path / "sheet.html"
    assert bulk(shared_target, manifest, out, "--contact-sheet", str(sheet)) == 0
    assert f"{len(queries)} rows, 1 errors" in capsys.readouterr().out
    data = out.read_bytes()
    data.decode("utf-8")  # the output stays valid UTF-8 for other tools
    assert data.count(b"\n") == len(queries) + (suffix == ".csv")  # one line per row
    rows = read_rows(out)
    assert [r["query"] for r in rows] == queries
    assert [r["id"] for r in rows] == [f"q{i}\n" for i in range(len(queries))]
    assert all(r["error"] is None and len(r["neighbors"]) == 2 for r in rows[:-1])
    assert rows[-1]["error"].startswith("NotFound: cannot read")
    assert sheet.read_text().count("<tr>") == len(queries)
    assert bulk(shared_target, manifest, out, "--resume") == 0
    assert f"already holds all {len(queries)} rows; nothing to do" in capsys.readouterr().out
    assert out.read_bytes() == data


@pytest.mark.parametrize("which", [2, 3, None])  # a newline, a quote and CR, 200 KB
def test_resume_of_a_finished_csv_with_one_hostile_row_is_a_no_op(shared_target, hostile_files,
                                                                  tmp_path, capsys, which):
    queries = [hostile_files[0], LONG_QUERY if which is None else hostile_files[which]]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"path": q}) + "\n" for q in queries))
    out = tmp_path / "out.csv"
    assert bulk(shared_target, manifest, out) == 0
    capsys.readouterr()
    assert bulk(shared_target, manifest, out, "--resume") == 0
    assert "already holds all 2 rows; nothing to do" in capsys.readouterr().out


def test_resume_continues_after_a_torn_hostile_csv_row(shared_target, hostile_files, tmp_path,
                                                       capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"path": q}) + "\n" for q in hostile_files))
    reference, out = tmp_path / "reference.csv", tmp_path / "out.csv"
    assert bulk(shared_target, manifest, reference) == 0
    lines = reference.read_bytes().split(b"\n")
    out.write_bytes(b"\n".join(lines[:3]) + b"\n" + lines[3][:30])  # killed mid-row 2
    capsys.readouterr()
    assert bulk(shared_target, manifest, out, "--resume") == 0
    assert f"{len(hostile_files) - 2} rows, 0 errors" in capsys.readouterr().out
    assert [r["query"] for r in read_rows(out)] == hostile_files


def test_a_raw_non_utf8_manifest_gives_row_errors_and_the_run_goes_on(shared_target,
                                                                      hostile_files, tmp_path,
                                                                      capsys):
    manifest = tmp_path / "m.txt"
    manifest.write_bytes(os.fsencode(hostile_files[1]) + b"\n/gone/\xfe\xff.png\n"
                         + b"y" * 300_000 + b"\n")
    out = tmp_path / "out.csv"
    assert bulk(shared_target, manifest, out) == 0
    assert "3 rows, 2 errors" in capsys.readouterr().out
    rows = read_rows(out)
    assert rows[0]["error"] is None and os.fsencode(rows[0]["query"]) == os.fsencode(
        hostile_files[1])
    assert rows[1]["error"].startswith("NotFound: no such file")
    assert os.fsencode(rows[1]["query"]) == b"/gone/\xfe\xff.png"
    assert bulk(shared_target, manifest, out, "--resume") == 0
    assert "already holds all 3 rows" in capsys.readouterr().out
