"""Property-based, the SDK side of labels: any text through the SDK's label, attribute and
filter checks is accepted exactly when a plain model of the rules says so, the label-file
cells read back what they wrote, and random changes made through the SDK against a real
server, then exported, match a plain Python model of the same data."""

from __future__ import annotations

import csv
import json
import math
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike.clients import Client, Filter
from lookalike.clients.label_files import export_labels
from lookalike.clients.label_messages import filter_message, payload_fields, update_request
from lookalike.common.errors import InvalidArgument
from lookalike.common.labels import check_labels, check_payload
from lookalike.common.manifest_payload import attr_columns, csv_cells, labels_cell, labels_text

TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=70)
LABEL_TEXT = st.one_of(TEXT, st.sampled_from(["", " ", "a" * 64, "a" * 65, "x;y", "[z]",
                                               "a\ud800", "\x00", "é\u2028"]))
GOOD_LABEL = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1,
                     max_size=64).map(str.strip).filter(bool)
KEY = st.from_regex(r"[A-Za-z0-9_.\-]{1,12}", fullmatch=True)
NUMBER = st.floats(allow_nan=False, allow_infinity=False)
TEXT_VALUE = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=30)


def model_text_ok(text: str) -> bool:
    """Text the rules allow: UTF-8, no control character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(unicodedata.category(c) in ("Cc", "Cs") for c in text)


def model_label_ok(label: str) -> bool:
    """A label, by the rules written plainly: such text, 1-64 characters once stripped."""
    return model_text_ok(label) and 0 < len(label.strip()) <= 64


@settings(max_examples=300, deadline=None)
@given(st.lists(LABEL_TEXT, max_size=4))
def test_a_label_is_accepted_by_add_update_and_filter_exactly_when_the_model_says(labels):
    ok = all(model_label_ok(x) for x in labels)
    for check in (lambda: payload_fields(labels, None, "image 0"),
                  lambda: filter_message(Filter(any_labels=labels)),
                  lambda: update_request(ids=["a"], cluster=None, filter=None,
                                         add_labels=labels or ["x"])):
        try:
            check()
            accepted = True
        except InvalidArgument:
            accepted = False
        assert accepted == ok, labels


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.one_of(KEY, TEXT), st.one_of(
    NUMBER, TEXT, st.sampled_from([math.nan, True, "   ", "v" * 1024, "v" * 1025])),
                       max_size=3))
def test_attributes_are_accepted_exactly_when_the_model_says(attrs):
    def ok(key, value):
        import re
        return (isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", key) is not None
                and not isinstance(value, bool)
                and (math.isfinite(value) if isinstance(value, float)
                     else model_text_ok(value) and len(value) <= 1024))
    expected = all(ok(k, v) for k, v in attrs.items())
    try:
        payload_fields(None, attrs, "image 0")
        accepted = True
    except InvalidArgument:
        accepted = False
    assert accepted == expected


@settings(max_examples=300, deadline=None)
@given(st.frozensets(GOOD_LABEL, max_size=6),
       st.dictionaries(KEY, st.one_of(NUMBER, TEXT_VALUE), max_size=4))
def test_the_label_file_cells_read_back_what_they_wrote(labels, attrs):
    labels = check_labels(labels)
    row = {"labels": labels_text(labels), **attr_columns(attrs)}
    got_labels, got_attrs = csv_cells(row, "")
    assert check_payload(got_labels, got_attrs.items()) == check_payload(labels, attrs.items())
    assert check_labels(labels_cell(labels_text(labels), "")) == labels


@pytest.fixture(scope="module")
def client(built_collection: Path, tmp_path_factory) -> Iterator[Client]:
    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import create_server

    folder = Path(shutil.copytree(built_collection, tmp_path_factory.mktemp("p") / "c"))
    running = create_server(folder, ServerConfig(port=0))
    with Client(f"127.0.0.1:{running.port}") as c:
        yield c
    running.stop(grace_s=1)


SMALL_LABELS = st.lists(st.sampled_from(["cat", "dog", "a;b", "[x]", "ünï"]), min_size=1,
                        max_size=2)
OPS = st.lists(st.tuples(st.sampled_from(["add", "remove", "set", "clear"]),
                         st.lists(st.integers(0, 47), min_size=1, max_size=6, unique=True),
                         SMALL_LABELS, st.sampled_from(["p", "q"]),
                         st.one_of(NUMBER, TEXT_VALUE)), min_size=1, max_size=5)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS, st.sampled_from([".csv", ".jsonl"]))
def test_changes_through_the_sdk_then_export_match_a_plain_model(client, tmp_path_factory,
                                                                 ops, kind):
    model = {i.id: (set(i.labels), dict(i.attributes)) for i in client.browse_all()}
    ids = sorted(model)
    for op, rows, labels, key, value in ops:
        chosen = [ids[r] for r in rows]
        change = {"add": {"add_labels": labels}, "remove": {"remove_labels": labels},
                  "set": {"set_attributes": {key: value}},
                  "clear": {"clear_attributes": [key]}}[op]
        assert client.update(ids=chosen, **change).updated == len(chosen)
        for i in chosen:
            got_labels, got_attrs = model[i]
            if op == "add":
                got_labels |= set(labels)
            elif op == "remove":
                got_labels -= set(labels)
            elif op == "set":
                got_attrs[key] = float(value) if not isinstance(value, str) else value
            else:
                got_attrs.pop(key, None)
    assert client.count(Filter(any_labels=["cat"])) == sum("cat" in m[0] for m in model.values())
    out = tmp_path_factory.mktemp("export") / f"labels{kind}"
    assert export_labels(client, out) == 48
    if kind == ".jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        exported = {r["id"]: (set(r["labels"]), r["attributes"]) for r in rows}
    else:
        exported = {}
        for r in csv.DictReader(out.open(newline="", encoding="utf-8")):
            labels, attrs = csv_cells(r, "")
            exported[r["id"]] = (set(labels or ()), attrs)
    assert exported == model
