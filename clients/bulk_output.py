"""Bulk output files (JSON lines or CSV): written row by row, resumable after a crash.

JSONL: one object per manifest row, {"row", "query", "id", "cluster", "neighbors",
"error"}; each neighbour is {"id", "path", "distance", "cluster", "cluster_name",
"labels", "attributes"} (its cluster's name, "" when unnamed; its labels, sorted; its
attributes, key -> text or number). CSV: a header line, then one line per manifest row
with columns row, query, id, cluster, error, neighbors, where neighbors is the same JSON
list as in JSONL (so nothing is lost and a row stays one line).

Both are ASCII-safe UTF-8 and one line per row whatever the paths hold. In CSV a text
cell (query, id, error) that holds a control character or line separator, a non-UTF-8
byte of a file name (a surrogate escape), is empty, or starts with a double quote, is
written as a JSON string literal instead, so it starts with a double quote and reads back
exactly.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.common.errors import AlreadyExists, InvalidArgument
from lookalike.common.sources import Source

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("row", "query", "id", "cluster", "error", "neighbors")
CSV_HEADER = ",".join(CSV_COLUMNS)
CSV_TEXT_COLUMNS = ("query", "id", "error")
# C0 and C1 controls (newlines, NUL, ESC), Unicode line/paragraph separators, surrogates.
_NOT_PLAIN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _text_cell(value: str | None) -> str:
    if value is None:
        return ""
    if value == "" or value.startswith('"') or _NOT_PLAIN.search(value):
        return json.dumps(value)
    return value


def _text_value(cell: str) -> str | None:
    if not cell:
        return None
    if cell.startswith('"'):
        value = json.loads(cell)
        if not isinstance(value, str):
            raise ValueError("a quoted cell that is not a JSON string")
        return value
    return cell


def output_format(path: str | Path) -> str:
    """"jsonl" or "csv" from the output's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise InvalidArgument(f"{path}: the output must end in .jsonl or .csv")


def encode_row(row: dict[str, Any], fmt: str) -> str:
    """One output line, newline included."""
    if fmt == "jsonl":
        return json.dumps(row) + "\n"
    buffer = io.StringIO()
    values = {**row, "neighbors": json.dumps(row["neighbors"])}
    for column in CSV_TEXT_COLUMNS:
        values[column] = _text_cell(row[column])
    csv.writer(buffer, lineterminator="\n").writerow(
        ["" if values[c] is None else values[c] for c in CSV_COLUMNS])
    return buffer.getvalue()


def decode_line(line: str, fmt: str) -> dict[str, Any]:
    """The row a complete output line holds; ValueError if it is not one."""
    if fmt == "jsonl":
        row = json.loads(line)
        if (not isinstance(row, dict) or not isinstance(row.get("row"), int)
                or not set(CSV_COLUMNS) <= set(row)):
            raise ValueError("not a bulk output row")
        return row
    try:
        cells = next(csv.reader([line], strict=True))
    except csv.Error as exc:
        raise ValueError(str(exc)) from None
    if len(cells) != len(CSV_COLUMNS):
        raise ValueError(f"{len(cells)} columns, expected {len(CSV_COLUMNS)}")
    row = dict(zip(CSV_COLUMNS, cells, strict=True))
    cluster = int(row["cluster"]) if row["cluster"] else None
    texts = {column: _text_value(row[column]) for column in CSV_TEXT_COLUMNS}
    return {**row, **texts, "row": int(row["row"]), "cluster": cluster,
            "neighbors": json.loads(row["neighbors"])}


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Every complete row of an output file (a torn last line is left out)."""
    fmt = output_format(path)
    text = Path(path).read_bytes().decode("utf-8", errors="surrogateescape")
    return [decode_line(line, fmt) for line in _row_lines(text.split("\n")[:-1], fmt)]


def _row_lines(lines: list[str], fmt: str) -> list[str]:
    return lines[1:] if fmt == "csv" and lines and lines[0] == CSV_HEADER else lines


@dataclass
class Progress:
    """What an existing output already holds."""

    done: set[int] = field(default_factory=set)
    errors: int = 0


def scan_output(path: Path, sources: Sequence[Source]) -> Progress:
    """Checks an output file against the manifest and cuts off a torn last line.

    Raises:
        InvalidArgument: a complete line that is not a row, or a row that does not
            match the manifest (the output belongs to another manifest).
    """
    fmt = output_format(path)
    with path.open("r+b") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            f.truncate(keep)  # written while the process died: that row is done again
            logger.info("%s: dropped a torn last line (%d bytes)", path, len(data) - keep)
    progress = Progress()
    lines = data[:keep].decode("utf-8", errors="surrogateescape").split("\n")[:-1]
    rows = _row_lines(lines, fmt)
    for number, line in enumerate(rows, 1 + len(lines) - len(rows)):
        try:
            row = decode_line(line, fmt)
        except (ValueError, KeyError, IndexError) as exc:
            raise InvalidArgument(f"{path}:{number}: not a bulk output row ({exc}); "
                                  "not resuming into it") from None
        index = row["row"]
        if not 0 <= index < len(sources) or sources[index].query != row["query"]:
            raise InvalidArgument(f"{path}:{number}: row {index} does not match the manifest; "
                                  "was this output written for another manifest?")
        progress.done.add(index)
        progress.errors += row["error"] is not None
    return progress


class OutputWriter:
    """Appends rows to an output file, flushing each so a crash loses no finished row."""

    def __init__(self, path: str | Path, sources: Sequence[Source], *, resume: bool = False,
                 overwrite: bool = False) -> None:
        """Opens path for a new run, or (resume) after the rows it already holds.

        Raises:
            AlreadyExists: path exists, holds rows, and neither resume nor overwrite is set.
        """
        self.path = Path(path)
        self.format = output_format(self.path)
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists and not (resume or overwrite):
            raise AlreadyExists(f"{self.path} already exists; pass --resume to continue it or "
                                "--overwrite to start again")
        self.progress = scan_output(self.path, sources) if exists and resume else Progress()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a" if resume else "w", encoding="utf-8", newline="")
        if self.format == "csv" and self._file.tell() == 0:
            self._file.write(CSV_HEADER + "\n")

    def write(self, row: dict[str, Any]) -> None:
        self._file.write(encode_row(row, self.format))
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
