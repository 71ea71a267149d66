"""Property-based: hostile manifests and hostile rows through read_sources and the bulk
output writer. Never a traceback; every written row reads back as one record; resume of
a finished output is a no-op, and of a torn one redoes only the torn row."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike.clients.bulk import output_row
from lookalike.clients.bulk_output import OutputWriter, read_rows
from lookalike.clients.results import Neighbor, SearchResult
from lookalike.common.errors import LookalikeError, NotFound
from lookalike.common.manifest_payload import ManifestError
from lookalike.common.sources import Source, read_sources

FAST = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
KINDS = ("txt", "csv", "jsonl")
BOM = b"\xef\xbb\xbf"

# Characters that break naive CSV, JSON lines and UTF-8 handling, surrogate escapes (how
# Python holds the bytes of a non-UTF-8 file name), and ordinary text.
_chars = st.one_of(
    st.sampled_from(list(',"\'\n\r\t\x00\x0b\x0c\x1b\x1c\x85\u2028\u2029\ufeff#\\ {}[]:')),
    st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF),
    st.characters(exclude_categories=("Cs",)),
)
_huge = st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "\udcff", ",", "\n", '"']),
                  st.integers(131_073, 140_000))  # past csv's default 128 KiB field limit
text = st.one_of(st.text(_chars, max_size=30), _huge)


def canonical(value: str) -> str:
    """value as it reads back from bytes: adjacent surrogate escapes may form a character."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")


def usable(value: str, txt: bool = False) -> str:
    """A manifest location: what read_sources keeps of a line (stripped, not a comment)."""
    value = canonical(value.replace("\n", "") if txt else value).strip()
    return "" if txt and value.startswith("#") else value


_raw_piece = st.one_of(
    st.sampled_from([b"\xff", BOM, b"\x00", b"\n", b"\r\n", b"\r", b'"', b",", b"path",
                     b"url", b"id", b"{", b"}", b'"path": ', b"[", b"\\ud800", b"\\u",
                     b"a.png", b"\xc3", b"\xe9", b"9" * 5000, b"[" * 3000, b"x" * 140_000]),
    st.binary(max_size=12),
)
raw_manifest = st.lists(_raw_piece, max_size=24).map(b"".join)


@contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def error_rows(sources: list[Source]) -> list[dict]:
    return [output_row(s, NotFound(f"no such file: {s.location}")) for s in sources]


def assert_round_trip(out: Path, sources: list[Source], rows: list[dict]) -> None:
    """Writes rows, then checks: one line each, read back exactly, resume a no-op, and a
    torn last row resumed."""
    writer = OutputWriter(out, sources)
    for row in rows:
        writer.write(row)
    writer.close()
    data = out.read_bytes()
    data.decode("utf-8")  # valid UTF-8 whatever the rows held
    header = out.suffix == ".csv"
    assert data.count(b"\n") == len(rows) + header
    assert read_rows(out) == rows
    again = OutputWriter(out, sources, resume=True)
    again.close()
    assert again.progress.done == {r["row"] for r in rows}
    assert out.read_bytes() == data  # a finished output is left as it was
    if rows:
        last = data.rstrip(b"\n").rfind(b"\n") + 1
        out.write_bytes(data[: last + (len(data) - last) // 2])  # killed mid-row
        torn = OutputWriter(out, sources, resume=True)
        assert torn.progress.done == {r["row"] for r in rows[:-1]}
        torn.write(rows[-1])
        torn.close()
        assert read_rows(out) == rows


@FAST
@given(kind=st.sampled_from(KINDS), data=raw_manifest, fmt=st.sampled_from(["csv", "jsonl"]))
def test_any_bytes_as_a_manifest_give_rows_or_a_manifest_error(kind, data, fmt):
    with folder() as tmp:
        manifest = tmp / f"m.{kind}"
        manifest.write_bytes(data)
        try:
            sources = read_sources(manifest)
        except ManifestError as exc:
            assert str(manifest) in str(exc)
            return
        assert [s.row for s in sources] == list(range(len(sources)))
        assert all(s.query and s.query == s.query.strip() for s in sources)
        assert_round_trip(tmp / f"out.{fmt}", sources, error_rows(sources))


def _manifest_bytes(kind: str, rows: list[tuple[str, str | None]], ascii_json: bool,
                    crlf: bool) -> bytes:
    if kind == "txt":
        text_ = ("\r\n" if crlf else "\n").join(q for q, _ in rows)
    elif kind == "csv":
        buffer = io.StringIO(newline="")
        # Python's writer leaves a lone "\r" unquoted when lines end in "\n", which no reader
        # can tell from a line end (a spreadsheet quotes it): quote every field then.
        lone_cr = any("\r" in f for row in rows for f in row if f)
        writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n",
                            quoting=csv.QUOTE_ALL if lone_cr else csv.QUOTE_MINIMAL)
        writer.writerow(["path", "id"])
        writer.writerows([q, "" if i is None else i] for q, i in rows)
        text_ = buffer.getvalue()
    else:
        text_ = "".join(json.dumps({"path": q, "id": i}, ensure_ascii=ascii_json) + "\n"
                        for q, i in rows)
    return text_.encode("utf-8", "surrogateescape")


@FAST
@given(kind=st.sampled_from(KINDS), pairs=st.lists(st.tuples(text, st.none() | text), max_size=6),
       bom=st.booleans(), ascii_json=st.booleans(), crlf=st.booleans())
def test_a_manifest_of_hostile_paths_reads_back_exactly(kind, pairs, bom, ascii_json, crlf):
    rows = []
    for query, row_id in pairs:
        query = usable(query, txt=kind == "txt")
        if kind == "csv":  # the CSV reader strips ids and reads an empty one as none
            row_id = (canonical(row_id).strip() or None) if row_id is not None else None
        elif kind == "txt":
            row_id = None
        if query:
            rows.append((query, None if row_id is None else canonical(row_id)))
    with folder() as tmp:
        manifest = tmp / f"m.{kind}"
        manifest.write_bytes((BOM if bom else b"") + _manifest_bytes(kind, rows, ascii_json, crlf))
        sources = read_sources(manifest)
        assert [(s.query, s.id) for s in sources] == rows
        for s in sources:  # relative paths resolve below the manifest's folder, bytes intact
            assert s.location.encode("utf-8", "surrogateescape").endswith(
                s.query.encode("utf-8", "surrogateescape"))


_finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
_neighbor = st.builds(Neighbor, text, text, _finite, st.integers(-1, 2**31 - 1))
_outcome = st.one_of(
    st.builds(lambda m: LookalikeError(m), text),
    st.builds(SearchResult, st.integers(-1, 2**31 - 1), st.lists(_neighbor, max_size=3)),
)


@FAST
@given(fmt=st.sampled_from(["csv", "jsonl"]),
       rows=st.lists(st.tuples(text, st.none() | text, _outcome), max_size=5))
def test_hostile_rows_round_trip_through_the_bulk_output(fmt, rows):
    sources = [Source(n, q, q, i) for n, (q, i, _) in enumerate(rows)]
    written = [output_row(s, outcome) for s, (_, _, outcome) in zip(sources, rows, strict=True)]
    with folder() as tmp:
        assert_round_trip(tmp / f"out.{fmt}", sources, written)
