"""Labels and attributes in manifests and label files, both ways: one format for build, add,
export and import.

CSV: a `labels` cell holds labels separated by ";" (or, when a label holds ";" or the cell
would start with "[", a JSON list such as ["a;b", "c"]); an `attr.KEY` column holds text
and an `attr.KEY:number` column a finite number. An empty cell means "no such attribute".
JSONL: a `labels` list and an `attributes` object of key -> text or number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from lookalike.common.errors import InvalidArgument
from lookalike.common.labels import Payload, Value, check_payload

LABEL_SEPARATOR = ";"
ATTR_PREFIX = "attr."
NUMBER_SUFFIX = ":number"


class ManifestError(InvalidArgument):
    """A manifest that cannot be read as a whole: malformed, unreadable or of unknown kind."""


def attr_column(column: str) -> tuple[str, bool] | None:
    """("KEY", is_number) for an attr.KEY or attr.KEY:number column; None for another."""
    if not column.startswith(ATTR_PREFIX):
        return None
    key = column[len(ATTR_PREFIX):]
    number = key.endswith(NUMBER_SUFFIX)
    return (key[: -len(NUMBER_SUFFIX)] if number else key), number


def labels_cell(cell: str, where: str) -> list[str]:
    """The labels of a CSV cell: "a;b", or a JSON list when a label holds ";"."""
    cell = cell.strip()
    if cell.startswith("["):
        try:
            got = json.loads(cell)
        except (json.JSONDecodeError, RecursionError):
            got = None
        if not isinstance(got, list) or not all(isinstance(x, str) for x in got):
            raise ManifestError(f"{where}labels {cell[:80]!r} is not a JSON list of text")
        return got
    return [part for part in cell.split(LABEL_SEPARATOR) if part.strip()]


def number_cell(cell: str, where: str) -> float:
    try:
        number = float(cell)
    except ValueError:
        raise ManifestError(f"{where}{cell[:80]!r} is not a number") from None
    if not math.isfinite(number):
        raise ManifestError(f"{where}{cell!r}: numbers must be finite")
    return number


def csv_cells(row: Mapping[str, Any], where: str) -> tuple[list[str] | None, dict[str, Value]]:
    """(labels, or None when there is no labels column; the attribute cells that are set)."""
    labels = None if "labels" not in row else labels_cell(row["labels"] or "", where)
    attrs: dict[str, Value] = {}
    for column, cell in row.items():
        parsed = attr_column(column) if isinstance(column, str) else None
        if parsed is None or cell is None or cell == "":
            continue
        key, is_number = parsed
        if key in attrs:
            raise ManifestError(f"{where}attribute {key!r} is set in two columns")
        attrs[key] = number_cell(cell, f"{where}{column}: ") if is_number else cell
    return labels, attrs


def checked(labels: Any, attributes: Mapping[str, Any], where: str) -> Payload:
    try:
        return check_payload(labels or (), attributes.items())
    except InvalidArgument as exc:
        raise ManifestError(f"{where}{exc}") from None


def csv_payload(row: Mapping[str, Any], where: str) -> Payload:
    """The checked labels and attributes of a CSV manifest row."""
    labels, attrs = csv_cells(row, where)
    return checked(labels, attrs, where)


def jsonl_fields(record: Mapping[str, Any], where: str
                 ) -> tuple[list[str] | None, dict[str, Any] | None]:
    """(labels, attributes) of a JSONL record, each None when its key is absent."""
    labels, attrs = record.get("labels"), record.get("attributes")
    if labels is not None and not isinstance(labels, list):
        raise ManifestError(f"{where}'labels' must be a list of text")
    if attrs is not None and not isinstance(attrs, dict):
        raise ManifestError(f"{where}'attributes' must be an object of key to text or number")
    return labels, attrs


def jsonl_payload(record: Mapping[str, Any], where: str) -> Payload:
    """The checked labels and attributes of a JSONL manifest record."""
    labels, attrs = jsonl_fields(record, where)
    return checked(labels, attrs or {}, where)


def labels_text(labels: list[str] | frozenset[str]) -> str:
    """A labels cell that labels_cell reads back exactly."""
    ordered = sorted(labels)
    if any(LABEL_SEPARATOR in x for x in ordered) or (ordered and ordered[0].startswith("[")):
        return json.dumps(ordered, ensure_ascii=False)
    return LABEL_SEPARATOR.join(ordered)


def attr_columns(values: Mapping[str, Value]) -> dict[str, str]:
    """The CSV cells of attributes: attr.KEY for text, attr.KEY:number for numbers."""
    return {(f"{ATTR_PREFIX}{k}" if isinstance(v, str) else f"{ATTR_PREFIX}{k}{NUMBER_SUFFIX}"):
            (v if isinstance(v, str) else repr(float(v))) for k, v in values.items()}
