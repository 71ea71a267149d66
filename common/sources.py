"""Image sources: a folder, or a .txt / .csv / .jsonl manifest of paths or URLs."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import NamedTuple

from lookalike.common.errors import InvalidArgument, InvalidImage, NotFound

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
)
MANIFEST_SUFFIXES = (".txt", ".csv", ".jsonl")


class Source(NamedTuple):
    """One row of input: the location as written, where to read it, and an optional id."""

    row: int
    query: str
    location: str
    id: str | None = None

    @property
    def is_url(self) -> bool:
        return is_url(self.location)


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def read_image_file(path: str | Path) -> bytes:
    """The bytes of an image file, with a clear error for a missing or unreadable one."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InvalidImage(f"{path} is a folder, not an image") from None
    except OSError as exc:
        raise NotFound(f"cannot read {path}: {exc.strerror}") from None


def read_sources(spec: str | Path) -> list[Source]:
    """Lists the images named by a folder (recursive, sorted) or a manifest file.

    Relative paths in a manifest are read relative to the manifest's own folder.

    Raises:
        NotFound: the folder or manifest does not exist.
        InvalidArgument: the manifest is of an unknown kind or malformed.
    """
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                       and p.is_file())
        return [Source(i, str(p), str(p)) for i, p in enumerate(files)]
    if not path.exists():
        raise NotFound(f"no such folder or manifest: {spec}")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        rows = _txt_rows(path)
    elif suffix == ".csv":
        rows = _csv_rows(path)
    elif suffix == ".jsonl":
        rows = _jsonl_rows(path)
    else:
        raise InvalidArgument(
            f"{spec}: expected a folder or a {', '.join(MANIFEST_SUFFIXES)} manifest"
        )
    base = path.parent
    return [Source(i, query, _resolve(query, base), row_id)
            for i, (query, row_id) in enumerate(rows)]


def _resolve(query: str, base: Path) -> str:
    if is_url(query) or Path(query).is_absolute():
        return query
    return str(base / query)


def _txt_rows(path: Path) -> list[tuple[str, str | None]]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [(line, None) for line in lines if line and not line.startswith("#")]


def _csv_rows(path: Path) -> list[tuple[str, str | None]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = set(reader.fieldnames or ())
        key = "path" if "path" in fields else "url" if "url" in fields else None
        if key is None:
            raise InvalidArgument(f"{path}: a CSV manifest needs a 'path' or 'url' column")
        return [(row[key].strip(), (row.get("id") or "").strip() or None)
                for row in reader if (row.get(key) or "").strip()]


def _jsonl_rows(path: Path) -> list[tuple[str, str | None]]:
    rows: list[tuple[str, str | None]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        location = record.get("path") or record.get("url") if isinstance(record, dict) else None
        if not isinstance(location, str) or not location.strip():
            raise InvalidArgument(f"{path}:{number}: a row needs a 'path' or 'url' string")
        row_id = record.get("id")
        rows.append((location.strip(), str(row_id) if row_id is not None else None))
    return rows
