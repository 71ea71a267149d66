"""Labels and attributes in build/add manifests: the CSV `labels` and `attr.KEY[:number]`
columns, the JSONL `labels` and `attributes` keys, and each bad value refused naming the
manifest's line before any work."""

from __future__ import annotations

import json

import pytest

from lookalike.common.labels import EMPTY
from lookalike.common.manifest_payload import ManifestError
from lookalike.common.sources import read_sources


def test_csv_labels_and_typed_attribute_columns(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,id,labels,attr.source,attr.price:number\n"
                        "a.png,1, cat ; kitten ,shop,12.5\n"
                        "b.png,2,,,\n"
                        'c.png,3,"[""a;b"", ""c""]",  spaced  ,-3\n')
    a, b, c = read_sources(manifest)
    assert a.payload.labels == {"cat", "kitten"}
    assert dict(a.payload.attributes) == {"source": "shop", "price": 12.5}
    assert b.payload == EMPTY
    assert c.payload.labels == {"a;b", "c"}
    assert dict(c.payload.attributes) == {"source": "  spaced  ", "price": -3.0}


def test_jsonl_labels_and_attributes(tmp_path):
    manifest = tmp_path / "m.jsonl"
    rows = [{"path": "a.png", "labels": ["cat"], "attributes": {"n": 2, "s": "x"}},
            {"path": "b.png"}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    a, b = read_sources(manifest)
    assert (a.payload.labels, dict(a.payload.attributes)) == ({"cat"}, {"n": 2.0, "s": "x"})
    assert b.payload == EMPTY


@pytest.mark.parametrize(("kind", "row", "words"), [
    (".csv", "a.png,cat,many", "'many' is not a number"),
    (".csv", "a.png,cat,nan", "numbers must be finite"),
    (".csv", "a.png,\x01,1", "control character"),
    (".csv", "a.png," + ";".join(f"l{n}" for n in range(65)) + ",1", "at most 64"),
    (".csv", 'a.png,"[1, 2]",1', "not a JSON list of text"),
    (".jsonl", json.dumps({"path": "a.png", "labels": "cat"}), "'labels' must be a list"),
    (".jsonl", json.dumps({"path": "a.png", "attributes": {"p": float("nan")}}), "finite"),
    (".jsonl", json.dumps({"path": "a.png", "attributes": {"p": True}}), "not a boolean"),
    (".jsonl", json.dumps({"path": "a.png", "attributes": {"bad key": 1}}), "A-Z a-z"),
    (".jsonl", json.dumps({"path": "a.png", "labels": [""]}), "is empty"),
], ids=["not-a-number", "nan", "control", "too-many", "json-list-of-numbers",
        "labels-not-a-list", "json-nan", "boolean", "bad-key", "empty-label"])
def test_a_bad_label_or_attribute_stops_the_manifest_naming_its_line(tmp_path, kind, row,
                                                                      words):
    manifest = tmp_path / f"m{kind}"
    head = "path,labels,attr.p:number\nok.png,fine,1\n" if kind == ".csv" else (
        json.dumps({"path": "ok.png"}) + "\n")
    manifest.write_text(head + row + "\n")
    with pytest.raises(ManifestError) as info:
        read_sources(manifest)
    assert f"{manifest}:{3 if kind == '.csv' else 2}: " in str(info.value)
    assert words in str(info.value)


def test_one_attribute_in_two_columns_is_refused(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,attr.p,attr.p:number\na.png,x,1\n")
    with pytest.raises(ManifestError, match="attribute 'p' is set in two columns"):
        read_sources(manifest)
