"""`lookalike labels export` and `import` as functions: a collection's labels and attributes
to a CSV or JSONL file and back (a spreadsheet round trip), in common/manifest_payload's
format.

Import checks the whole file before it changes anything: one bad row (a duplicate or unknown
id, a bad label or number, a torn last line) and nothing is applied. It then sends one
Update per distinct change (the images that gain and lose the same labels and attributes).
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.clients.client import Client
from lookalike.clients.filters import Filter
from lookalike.clients.results import Item
from lookalike.common.atomic import atomic_write_bytes
from lookalike.common.errors import InvalidArgument, LookalikeError
from lookalike.common.labels import Payload, Value, check_payload
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
    """One checked row of a label file: the id, its labels (None: leave them) and its
    attributes (managed: the keys the file decides; the rest are left)."""

    line: int
    id: str
    labels: frozenset[str] | None
    attributes: dict[str, Value]
    managed: frozenset[str] | None  # None: every key (JSONL "attributes")


@dataclass
class Imported:
    """What an import did: images changed, unchanged, Updates sent, and per-row errors."""

    changed: int = 0
    unchanged: int = 0
    updates: int = 0
    errors: list[str] = field(default_factory=list)  # "line N: message"; nothing applied


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
    return Row(line, record["id"], None if labels is None else payload.labels,
               dict(payload.attributes), managed)


@functools.cache
def _managed(columns: tuple[str, ...]) -> frozenset[str]:
    """The attribute keys a CSV header's attr. columns decide (the same for every row)."""
    return frozenset(p[0] for c in columns if (p := attr_column(c)) is not None)


def _change(row: Row, now: Payload) -> tuple | None:
    """(add, remove, set, clear) turning now into the row's, or None when already so."""
    add = remove = frozenset()
    if row.labels is not None:
        add, remove = row.labels - now.labels, now.labels - row.labels
    sets = tuple(sorted((k, v) for k, v in row.attributes.items()
                        if k not in now.attributes or type(now.attributes[k]) is not type(v)
                        or now.attributes[k] != v))
    keys = now.attributes.keys() if row.managed is None else now.attributes.keys() & row.managed
    clear = frozenset(k for k in keys if k not in row.attributes)
    if not (add or remove or sets or clear):
        return None
    return (tuple(sorted(add)), tuple(sorted(remove)), sets, tuple(sorted(clear)))


def import_labels(client: Client, path: str | Path, dry_run: bool = False) -> Imported:
    """Applies a label file (see the module docstring); with errors, applies nothing."""
    rows, errors = read_label_file(path)
    result = Imported(errors=errors)
    now: dict[str, Payload] = {}
    for start in range(0, len(rows), GET_CHUNK):
        items, missing = client.get([r.id for r in rows[start:start + GET_CHUNK]])
        now.update((i.id, Payload(frozenset(i.labels), i.attributes)) for i in items)
        gone = set(missing)
        errors += [f"line {r.line}: id {r.id!r} is not in the collection"
                   for r in rows[start:start + GET_CHUNK] if r.id in gone]
    if errors:
        errors.sort(key=lambda e: int(e.split(":")[0].split()[1]))
        return result
    groups: dict[tuple, list[str]] = defaultdict(list)
    for row in rows:
        change = _change(row, now[row.id])
        if change is None:
            result.unchanged += 1
        else:
            groups[change].append(row.id)
    for (add, remove, sets, clear), ids in ([] if dry_run else groups.items()):
        try:
            done = client.update(ids=ids, add_labels=add, remove_labels=remove,
                                 set_attributes=dict(sets), clear_attributes=clear)
        except LookalikeError as exc:
            left = sum(map(len, groups.values())) - result.changed
            exc.args = (f"{exc}; {result.updates} earlier updates had changed "
                        f"{result.changed} images, {left} were not changed",)
            raise
        result.changed += done.updated
        result.updates += 1
    if dry_run:
        result.changed = sum(map(len, groups.values()))
    return result
