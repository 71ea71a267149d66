import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lookalike.common.errors import InvalidArgument, NotFound
from lookalike.common.manifest_payload import ManifestError
from lookalike.common.sources import Source, read_image_file, read_sources


def test_folder_is_read_recursively_and_sorted(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.png", "1.jpg", "notes.txt", "3.WEBP"):
        (tmp_path / name).write_bytes(b"x")
    found = [s.query for s in read_sources(tmp_path)]
    assert found == sorted(str(tmp_path / n) for n in ("1.jpg", "3.WEBP", "b/2.png"))


def test_txt_manifest_skips_blanks_and_comments_and_resolves_relative_paths(tmp_path):
    manifest = tmp_path / "m.txt"
    manifest.write_text("# header\na.png\n\nhttps://example.com/x.jpg\n/abs/c.png\n")
    rows = read_sources(manifest)
    assert [r.query for r in rows] == ["a.png", "https://example.com/x.jpg", "/abs/c.png"]
    assert rows[0].location == str(tmp_path / "a.png")
    assert rows[1].is_url and rows[1].location == rows[1].query
    assert [r.row for r in rows] == [0, 1, 2]


def test_csv_manifest_takes_path_or_url_column_and_optional_id(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,url\nfirst,https://h/a.png\n,https://h/b.png\n")
    rows = read_sources(manifest)
    assert [(r.query, r.id) for r in rows] == [("https://h/a.png", "first"),
                                               ("https://h/b.png", None)]


def test_csv_without_path_column_is_a_clear_error(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("file\na.png\n")
    with pytest.raises(InvalidArgument, match="'path' or 'url' column"):
        read_sources(manifest)


def test_jsonl_manifest(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "a.png", "id": 7}) + "\n\n"
                        + json.dumps({"url": "http://h/b.jpg"}) + "\n")
    rows = read_sources(manifest)
    assert [(r.query, r.id) for r in rows] == [("a.png", "7"), ("http://h/b.jpg", None)]


@pytest.mark.parametrize("line", ["not json", json.dumps({"name": "a.png"}), "[1, 2]"])
def test_bad_jsonl_rows_name_the_line(tmp_path, line):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "ok.png"}) + "\n" + line + "\n")
    with pytest.raises(InvalidArgument, match="m.jsonl:2"):
        read_sources(manifest)


def test_missing_and_unknown_manifests(tmp_path):
    with pytest.raises(NotFound):
        read_sources(tmp_path / "nope.txt")
    other = tmp_path / "list.xml"
    other.write_text("<a/>")
    with pytest.raises(InvalidArgument, match="manifest"):
        read_sources(other)


@pytest.mark.parametrize("kind", ["txt", "csv", "jsonl"])
def test_non_utf8_bytes_in_a_manifest_name_the_file_those_bytes_name(tmp_path, kind):
    name = b"caf\xe9 \xff.png"  # Latin-1 and a stray byte: not UTF-8
    (tmp_path / os.fsdecode(name)).write_bytes(b"image bytes")
    line = {"txt": name, "csv": b'"' + name + b'",q1',
            "jsonl": b'{"path": "' + name + b'", "id": "q1"}'}[kind]
    header = b"path,id\n" if kind == "csv" else b""
    manifest = tmp_path / f"m.{kind}"
    manifest.write_bytes(header + line + b"\n")
    (source,) = read_sources(manifest)
    assert os.fsencode(source.query) == name
    assert Path(source.location).read_bytes() == b"image bytes"


def test_a_csv_field_over_128_kib_is_a_row_and_a_bom_is_skipped(tmp_path):
    manifest = tmp_path / "m.csv"
    long_path = "d/" + "x" * 200_000 + ".png"
    manifest.write_bytes(b"\xef\xbb\xbfpath,id\n" + long_path.encode() + b",1\nb.png,2\n")
    rows = read_sources(manifest)
    assert [(r.query, r.id) for r in rows] == [(long_path, "1"), ("b.png", "2")]
    with pytest.raises(NotFound, match="cannot read"):  # that row's error, not a crash
        read_image_file(rows[0].location)


@pytest.mark.parametrize("query", ["a\x00b.png", "\ud800.png", "x" * 5000 + ".png"])
def test_unopenable_file_names_are_that_rows_error(tmp_path, query):
    with pytest.raises(NotFound):
        read_image_file(tmp_path / query)


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("m.jsonl", b'{"path": "a.png"}\n\xff\xfe{"path"\n', "m.jsonl:2: not valid JSON"),
        ("m.jsonl", b'{"path": "a.png"}\n' + b"[" * 100_000 + b"\n", "m.jsonl:2: not a usable"),
        ("m.jsonl", b'{"path": "a.png", "id": ' + b"9" * 5000 + b"}\n", "m.jsonl:1: not a usable"),
        ("m.csv", b"fi\xffle\na.png\n", "'path' or 'url' column"),
    ],
)
def test_a_malformed_manifest_is_a_manifest_error_naming_it_and_the_line(tmp_path, name,
                                                                         data, words):
    manifest = tmp_path / name
    manifest.write_bytes(data)
    with pytest.raises(ManifestError, match=re.escape(words)):
        read_sources(manifest)


def test_the_cli_exits_2_without_a_traceback_on_a_malformed_manifest(tmp_path):
    manifest = tmp_path / "bad.jsonl"
    manifest.write_bytes(b'{"path": "a.png"}\n{"path": "\xff\n')
    done = subprocess.run(
        [sys.executable, "-m", "lookalike.app.cli", "bulk", str(manifest), "--out",
         str(tmp_path / "out.csv"), "--target", "127.0.0.1:9", "-q"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"lookalike bulk: {manifest}:2: not valid JSON" in done.stderr


def test_a_stored_file_uri_reads_the_non_utf8_file_it_names(tmp_path):
    import os

    from lookalike.common.paths import stored_path
    from lookalike.common.sources import read_image_file

    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")
    with open(raw, "wb") as f:
        f.write(b"bytes of a picture")
    stored = stored_path(os.fsdecode(raw))
    assert stored.startswith("file://")
    assert read_image_file(stored) == b"bytes of a picture"


def test_an_image_file_a_url_and_a_list_are_sources(tmp_path):
    (tmp_path / "f").mkdir()
    for name in ("f/x.png", "a.JPG", "b.webp"):
        (tmp_path / name).write_bytes(b"not decoded here")
    [one] = read_sources(tmp_path / "a.JPG")
    assert one == Source(0, str(tmp_path / "a.JPG"), str(tmp_path / "a.JPG"))
    assert read_sources("https://example.com/c.jpg") == [
        Source(0, "https://example.com/c.jpg", "https://example.com/c.jpg")]
    listed = read_sources([str(tmp_path / "b.webp"), tmp_path / "f", tmp_path / "a.JPG"])
    assert [(s.row, Path(s.location).name) for s in listed] == [(0, "b.webp"), (1, "x.png"),
                                                                 (2, "a.JPG")]
    with pytest.raises(NotFound, match="no such folder, image or manifest"):
        read_sources([tmp_path / "a.JPG", tmp_path / "gone.png"])
