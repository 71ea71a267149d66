"""`lookalike labels export` and `import` as functions: a collection's labels and attributes
to a CSV or JSONL file and back (a spreadsheet round trip), in common/manifest_payload's
format.

Import checks the whole file before it changes anything: one bad row (a duplicate or unknown
id, a bad label or number, a cluster given two names, a torn last line) and nothing is
applied. It then sends the whole file as one UpdateMany: one transaction on the server, each
row's "exactly these labels / these attributes" applied to what the image holds inside it,
so nothing another writer changed meanwhile is overwritten from a stale copy. A
`cluster_name` column names the row's `cluster` (a blank cell says nothing); rows that give
one cluster different names are errors. A file past one call's limits (100,000 rows) is
refused unless split (each part then all or nothing on its own; see clients/edits.py).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lookalike.clients.client import Client
from lookalike.clients.edits import CheckedEdit, ImageEdit
from lookalike.clients.filters import Filter
from lookalike.clients.results import Item
from lookalike.common.atomic import atomic_write_bytes
from lookalike.common.errors import InvalidArgument, LookalikeError
from lookalike.common.labels import Change, Value, check_cluster_name, check_payload
from lookalike.common.manifest_payload import (
    ManifestError,
    attr_column,
    attr_columns,
    csv_cells,
    jsonl_fields,
    labels_text,
)

FIXED = ["id", "path", "cluster", "cluster_name", "labels"]
GET_CHUNK = 1000  # ids per Get, the server's limit


def export_labels(client: Client, out: str | Path, filter: Filter | None = None,
                  page_size: int = 1000, progress: bool = False) -> int:
    """Writes every image (that `filter` matches) to out (.csv or .jsonl), atomically;
    returns how many rows were written."""
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".csv", ".jsonl"):
        raise InvalidArgument(f"{out}: export writes a .csv or a .jsonl file")
    from tqdm import tqdm

    items: list[Item] = []
    with tqdm(total=client.count(filter) if progress else None, unit="img", desc="export",
              disable=not progress) as bar:
        for page in _pages(client, filter, page_size):
            items += page
            bar.update(len(page))
    data = csv_text(items) if kind == ".csv" else "".join(
        json.dumps({"id": i.id, "path": i.path, "cluster": i.cluster,
                    "cluster_name": i.cluster_name, "labels": i.labels,
                    "attributes": i.attributes}, ensure_ascii=False) + "\n" for i in items)
    atomic_write_bytes(out, data.encode("utf-8", errors="surrogateescape"))
    return len(items)


def _pages(client: Client, filter: Filter | None, page_size: int) -> Iterator[list[Item]]:
    """browse_all's pages, the next one asked for while the caller reads this one, so the
    server's work and ours overlap (about 1.6x faster on 100K rows)."""
    with ThreadPoolExecutor(1) as pool:
        coming = pool.submit(client.browse, filter, page_size, "")
        while True:
            page = coming.result()
            if page.next_page_token:
                coming = pool.submit(client.browse, filter, page_size, page.next_page_token)
            yield page.items
            if not page.next_page_token:
                return


def csv_text(items: list[Item]) -> str:
    """The export's CSV: the fixed columns, then one column per attribute (and type) seen."""
    cells = [attr_columns(i.attributes) for i in items]
    columns = sorted({c for row in cells for c in row})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIXED + columns)
    for item, attrs in zip(items, cells, strict=True):
        writer.writerow([item.id, item.path, item.cluster, item.cluster_name,
                         labels_text(item.labels)] + [attrs.get(c, "") for c in columns])
    return buffer.getvalue()


@dataclass
class Row:
    """One checked row of a label file: the id, its labels (None: leave them), its
    attributes (managed: the keys the file decides; the rest are left), and the name it
    gives its cluster (None: none)."""

    line: int
    id: str
    labels: frozenset[str] | None
    attributes: dict[str, Value]
    managed: frozenset[str] | None  # None: every key (JSONL "attributes")
    cluster: int | None = None
    cluster_name: str | None = None

    def edit(self) -> ImageEdit | None:
        """The row as one image's edit; None when it says nothing about the image."""
        if self.labels is None and self.managed == frozenset():
            return None
        clear = frozenset() if self.managed is None else self.managed - self.attributes.keys()
        return CheckedEdit(self.id, change=Change(  # every value was checked as it was read
            self.labels or frozenset(), frozenset(), MappingProxyType(self.attributes), clear,
            replace_labels=self.labels is not None, replace_attributes=self.managed is None))


@dataclass
class Imported:
    """What an import did: images changed, unchanged, cluster names changed, calls sent,
    and per-row errors."""

    changed: int = 0
    unchanged: int = 0
    updates: int = 0
    errors: list[str] = field(default_factory=list)  # "line N: message"; nothing applied
    names: int = 0


def read_label_file(path: str | Path) -> tuple[list[Row], list[str]]:
    """The checked rows of a label file and every row's error ("line N: ...")."""
    path = Path(path)
    try:
        raw = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror}") from None
    kind = path.suffix.lower()
    if kind not in (".csv", ".jsonl"):
        raise ManifestError(f"{path}: import reads a .csv or a .jsonl file")
    rows, errors, seen = [], [], {}
    lines = raw.count("\n") + (0 if raw.endswith("\n") else 1)
    if raw and not raw.endswith("\n"):
        errors.append(f"line {lines}: the last line has no line end: a torn write? Fix or "
                      "remove it")
    for line, record in (_csv_records(raw) if kind == ".csv" else _jsonl_records(raw)):
        if raw and not raw.endswith("\n") and line == lines:
            continue  # already refused as torn
        try:
            row = _row(line, record, kind)
            if row.id in seen:
                raise InvalidArgument(f"id {row.id!r} is also on line {seen[row.id]}")
            seen[row.id] = line
            rows.append(row)
        except LookalikeError as exc:
            errors.append(f"line {line}: {exc}")
    return rows, errors


def _csv_records(raw: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(raw, newline=""))
    if "id" not in (reader.fieldnames or ()):
        raise ManifestError("a label file needs an 'id' column")
    try:
        for record in reader:
            yield reader.line_num, record
    except csv.Error as exc:
        raise ManifestError(f"line {reader.line_num}: not valid CSV ({exc})") from None


def _jsonl_records(raw: str) -> Iterator[tuple[int, Any]]:
    for number, text in enumerate(raw.split("\n"), 1):
        if text.strip():
            try:
                yield number, json.loads(text)
            except (ValueError, RecursionError) as exc:
                yield number, exc


def _row(line: int, record: Any, kind: str) -> Row:
    if isinstance(record, Exception):
        raise InvalidArgument(f"not valid JSON ({record})")
    if not isinstance(record, dict) or not isinstance(record.get("id"), str) or not record[
            "id"]:
        raise InvalidArgument("a row needs an 'id' (text)")
    if kind == ".csv":
        labels, attrs = csv_cells(record, "")
        managed = _managed(tuple(c for c in record if isinstance(c, str)))
    else:
        labels, given = jsonl_fields(record, "")
        attrs, managed = given or {}, (None if given is not None else frozenset())
    payload = check_payload(labels or (), attrs.items())
    cluster, name = _cluster_name(record)
    return Row(line, record["id"], None if labels is None else payload.labels,
               dict(payload.attributes), managed, cluster, name)


def _cluster_name(record: dict[str, Any]) -> tuple[int | None, str | None]:
    """(cluster, the name the row gives it), or (None, None) when its cell is blank."""
    name = record.get("cluster_name")
    if name is None or (isinstance(name, str) and not name.strip()):
        return None, None
    name = check_cluster_name(name)
    cluster = record.get("cluster")
    try:
        number = int(cluster.strip() if isinstance(cluster, str) else cluster)
    except (TypeError, ValueError):
        number = -1
    if isinstance(cluster, (bool, float)) or number < 0:
        raise InvalidArgument(f"cluster_name {name!r} needs the row's cluster number in "
                              f"'cluster', got {str(cluster)[:20]!r}")
    return number, name


def _names(rows: list[Row], errors: list[str]) -> dict[int, str]:
    """The cluster names the rows give; a cluster given two names is an error on each
    line after the first that disagrees."""
    names: dict[int, tuple[str, int]] = {}
    for row in rows:
        if row.cluster is None or row.cluster_name is None:
            continue
        first = names.setdefault(row.cluster, (row.cluster_name, row.line))
        if first[0] != row.cluster_name:
            errors.append(f"line {row.line}: cluster {row.cluster} is named "
                          f"{row.cluster_name!r} here but {first[0]!r} on line {first[1]}")
    return {c: n for c, (n, _) in names.items()}


@functools.cache
def _managed(columns: tuple[str, ...]) -> frozenset[str]:
    """The attribute keys a CSV header's attr. columns decide (the same for every row)."""
    return frozenset(p[0] for c in columns if (p := attr_column(c)) is not None)


def _line_of(message: str, rows: list[Row]) -> str:
    """A server refusal naming edits[n], as the line of that row."""
    found = re.match(r"edits\[(\d+)\]", message)
    if found and int(found.group(1)) < len(rows):
        return f"line {rows[int(found.group(1))].line}: {message}"
    return message


def import_labels(client: Client, path: str | Path, dry_run: bool = False,
                  split: bool = False) -> Imported:
    """Applies a label file as one UpdateMany (see the module docstring); with any error,
    applies nothing."""
    rows, errors = read_label_file(path)
    result = Imported(errors=errors)
    names = _names(rows, errors)
    edited = [(row, edit) for row in rows if (edit := row.edit()) is not None]
    quiet = [row.id for row in rows if row.edit() is None]  # unknown ids are errors too
    for start in range(0, len(quiet), GET_CHUNK):
        gone = set(client.get(quiet[start:start + GET_CHUNK])[1])
        errors += [f"line {r.line}: id {r.id!r} is not in the collection" for r in rows
                   if r.id in gone]
    if edited or names:  # with errors already, a dry run: the unknown ids are errors too
        try:
            done = client.update_many([e for _, e in edited], names,
                                      dry_run=dry_run or bool(errors), split=split)
        except InvalidArgument as exc:
            errors.append(str(exc) if split else _line_of(str(exc), [r for r, _ in edited]))
        else:
            gone = set(done.missing)
            errors += [f"line {r.line}: id {r.id!r} is not in the collection"
                       for r, _ in edited if r.id in gone]
            result.changed, result.unchanged, result.names = (done.changed, done.unchanged
                                                              + len(quiet), done.names)
            result.updates = 0 if dry_run or gone else 1
    errors.sort(key=lambda e: int(m.group(1)) if (m := re.match(r"line (\d+)", e)) else 0)
    if errors:
        result.changed = result.unchanged = result.names = result.updates = 0
    return result
