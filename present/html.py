"""The one HTML page writer: a self-contained document, written atomically."""

from __future__ import annotations

import html
from pathlib import Path

from lookalike.common.atomic import atomic_write_bytes


def write_page(path: str | Path, title: str, body: str, style: str = "") -> Path:
    """Writes a UTF-8 page of body (HTML) titled title (text, escaped here).

    A name that is not UTF-8 (a surrogate escape) is written as a backslash escape rather
    than failing the page.
    """
    path = Path(path)
    document = (f"<!doctype html><html><head><meta charset='utf-8'><title>"
                f"{html.escape(title)}</title><style>{style}</style></head><body>{body}"
                "</body></html>\n")
    atomic_write_bytes(path, document.encode("utf-8", "backslashreplace"))
    return path
