import json

import pytest

from lookalike.common.errors import InvalidArgument, NotFound
from lookalike.common.sources import read_sources


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
