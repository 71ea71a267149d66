"""Image sources: a folder, an image file or URL, or a .txt / .csv / .jsonl manifest of them.

Manifests are read as UTF-8 (a BOM is skipped) with surrogate escapes, so a byte that is
not UTF-8 stays in the path as Python writes non-UTF-8 file names: the row opens the file
its bytes name, or gets that row's error, and the run goes on.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from lookalike.common.errors import InvalidArgument, InvalidImage, NotFound
from lookalike.common.fetch import FetchLimits, fetch_url
from lookalike.common.labels import EMPTY, Payload
from lookalike.common.manifest_payload import ManifestError, csv_payload, jsonl_payload
from lookalike.common.paths import local_path

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
)
MANIFEST_SUFFIXES = (".txt", ".csv", ".jsonl")
# csv's default field limit is 128 KiB; a longer cell is a bad row, not a crash. The limit
# is process-wide, so raising it here also covers the bulk output reader.
CSV_FIELD_LIMIT = 2**31 - 1
csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))


# What the CLI's IMAGES names: one folder, image, URL or manifest, or a list of them.
ImagesSpec = str | Path | Sequence[str | Path]


class Source(NamedTuple):
    """One row of input: the location as written, where to read it, an optional id, and
    the labels and attributes the manifest gives it."""

    row: int
    query: str
    location: str
    id: str | None = None
    payload: Payload = EMPTY

    @property
    def is_url(self) -> bool:
        return is_url(self.location)


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def read_image_file(path: str | Path) -> bytes:
    """The bytes of an image file, with a clear error for a missing or unreadable one.

    path may be a stored path (common.paths): a file:// URI reads the file it names, so
    pictures of a non-UTF-8 file name stored that way still find it.
    """
    try:
        return Path(local_path(str(path))).read_bytes()
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InvalidImage(f"{path} is a folder, not an image") from None
    except OSError as exc:
        raise NotFound(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:  # a NUL, or a surrogate no file name can hold
        raise NotFound(f"cannot read {path!r}: not a valid file name ({exc})") from None


def read_sources(spec: ImagesSpec) -> list[Source]:
    """Lists the images named by a folder (recursive, sorted), an image file or URL, a
    manifest file, or a list of those (in its order, rows numbered across the list).

    Relative paths in a manifest are read relative to the manifest's own folder.

    Raises:
        NotFound: the folder, image or manifest does not exist.
        ManifestError: the manifest is of an unknown kind, unreadable or malformed; the
            message names the manifest and, where there is one, the line.
    """
    if not isinstance(spec, (str, Path)):
        found = [s for one in spec for s in read_sources(one)]
        return [s._replace(row=i) for i, s in enumerate(found)]
    if isinstance(spec, str) and is_url(spec):
        return [Source(0, spec, spec)]
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                       and p.is_file())
        return [Source(i, str(p), str(p)) for i, p in enumerate(files)]
    if not path.exists():
        raise NotFound(f"no such folder, image or manifest: {spec}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [Source(0, str(spec), str(path))]
    readers = {".txt": _txt_rows, ".csv": _csv_rows, ".jsonl": _jsonl_rows}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ManifestError(
            f"{spec}: expected a folder, an image ({', '.join(sorted(IMAGE_SUFFIXES))}) or a "
            f"{', '.join(MANIFEST_SUFFIXES)} manifest"
        )
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {spec}: {exc.strerror}") from None
    rows = reader(path, text)
    base = path.parent
    return [Source(i, query, _resolve(query, base), row_id, *extra)
            for i, (query, row_id, *extra) in enumerate(rows)]


def _resolve(query: str, base: Path) -> str:
    if is_url(query) or Path(query).is_absolute():
        return query
    return str(base / query)


def _txt_rows(path: Path, text: str) -> list[tuple[str, str | None]]:
    # Only "\n" ends a line: a file name may hold any other control character.
    lines = (line.strip() for line in text.split("\n"))
    return [(line, None) for line in lines if line and not line.startswith("#")]


def _csv_rows(path: Path, text: str) -> list[tuple[str, str | None, Payload]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fields = set(reader.fieldnames or ())
        key = "path" if "path" in fields else "url" if "url" in fields else None
        if key is None:
            raise ManifestError(f"{path}: a CSV manifest needs a 'path' or 'url' column")
        return [(row[key].strip(), (row.get("id") or "").strip() or None,
                 csv_payload(row, f"{path}:{reader.line_num}: "))
                for row in reader if (row.get(key) or "").strip()]
    except csv.Error as exc:
        raise ManifestError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def _jsonl_rows(path: Path, text: str) -> list[tuple[str, str | None, Payload]]:
    rows: list[tuple[str, str | None, Payload]] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number, deep nesting
            raise ManifestError(f"{path}:{number}: not a usable JSON row ({exc})") from None
        location = record.get("path") or record.get("url") if isinstance(record, dict) else None
        if not isinstance(location, str) or not location.strip():
            raise ManifestError(f"{path}:{number}: a row needs a 'path' or 'url' string")
        row_id = record.get("id")
        rows.append((location.strip(), str(row_id) if row_id is not None else None,
                     jsonl_payload(record, f"{path}:{number}: ")))
    return rows


def image_bytes(image: Any, limits: FetchLimits | None = None) -> bytes:
    """Encoded bytes for image: a path, an http(s) URL, bytes, a PIL image or an array.

    Raises:
        NotFound: a missing file or an unreachable URL.
        InvalidArgument: a value of a kind that is not an image.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, str) and is_url(image):
        return fetch_url(image, limits or FetchLimits())
    if isinstance(image, (str, Path)):
        return read_image_file(image)
    if isinstance(image, np.ndarray):
        from PIL import Image

        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise InvalidArgument(
                f"an array image must be uint8 (h, w) or (h, w, 3|4), got {image.dtype} "
                f"{image.shape}"
            )
        image = Image.fromarray(image)
    if hasattr(image, "save") and hasattr(image, "mode"):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise InvalidArgument(
        f"cannot search by a {type(image).__name__}; give a path, URL, bytes, PIL image or array"
    )
