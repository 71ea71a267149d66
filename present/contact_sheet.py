"""An HTML contact sheet of a bulk output: every query row beside its neighbours.

Thumbnails are written once per image into a folder next to the page (`<page>_files/`)
and linked relatively, so a batch of thousands of rows stays a small page that repeats
no image data, and the page plus its folder can be moved together.
"""

from __future__ import annotations

import hashlib
import html
import logging
from pathlib import Path
from typing import Any

from lookalike.common.sources import read_sources
from lookalike.present.html import write_page
from lookalike.present.plot import distance_text
from lookalike.present.thumbs import thumbnail_or_none

logger = logging.getLogger(__name__)

THUMB_PX = 96
STYLE = """
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
table { border-collapse: collapse; }
td { vertical-align: top; padding: 4px; border-bottom: 1px solid #ddd; }
figure { display: inline-block; margin: 0 4px 0 0; width: 100px; text-align: center; }
figure img, .missing { width: 96px; height: 96px; object-fit: contain; background: #f4f4f4; }
.missing { display: inline-flex; align-items: center; justify-content: center; color: #888; }
figcaption { font-size: 11px; word-break: break-all; }
.query img { outline: 3px solid #1f77b4; }
.error { color: #b00; }
"""


class Thumbs:
    """Writes each distinct image's thumbnail once and returns its relative link."""

    missing = "not readable"  # what a placeholder says

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._links: dict[str, str | None] = {}

    def link(self, location: str) -> str | None:
        if location not in self._links:
            self._links[location] = self._write(location)
        return self._links[location]

    def _write(self, location: str) -> str | None:
        picture = thumbnail_or_none(location, THUMB_PX) if location else None
        if picture is None:
            return None
        # surrogatepass: a non-UTF-8 file name (surrogate escapes) still has a stable name
        name = hashlib.sha1(location.encode("utf-8", "surrogatepass")).hexdigest()[:16] + ".jpg"
        target = self.folder / name
        if not target.exists():
            picture.save(target, quality=85)
        return f"{self.folder.name}/{name}"


def figure(link: str | None, caption: str, css: str = "", missing: str = "not readable") -> str:
    image = (f'<img src="{html.escape(link)}" loading="lazy" alt="">' if link
             else f'<span class="missing">{html.escape(missing)}</span>')
    return f'<figure class="{css}">{image}<figcaption>{caption}</figcaption></figure>'


def _row_html(row: dict[str, Any], location: str, thumbs: Thumbs) -> str:
    query = figure(thumbs.link(location), f"#{row['row']} {html.escape(row['query'])}",
                    "query")
    if row["error"]:
        cells = f'<span class="error">{html.escape(row["error"])}</span>'
    else:
        cells = "".join(
            figure(thumbs.link(n["path"]),
                    f"{html.escape(str(n['id']))}<br>"
                    f"d={distance_text(n['distance'])} c={n['cluster']}")
            for n in row["neighbors"])
    return f"<tr><td>{query}</td><td>{cells}</td></tr>"


def write_contact_sheet(rows: list[dict[str, Any]], results: str | Path, page: str | Path,
                        manifest: str | Path | None = None) -> Path:
    """Writes page (HTML) showing every row of a bulk output with its neighbours.

    Args:
        rows: the bulk output's rows, as clients.bulk_output.read_rows reads them.
        results: the bulk output they were read from, for the page's title.
        page: the HTML file to write; thumbnails go to `<page stem>_files/` beside it.
        manifest: the bulk manifest, to read query images relative to it; by default a
            row's query is read as written.
    """
    page = Path(page)
    locations = ({s.row: s.location for s in read_sources(manifest)} if manifest else {})
    thumbs = Thumbs(page.parent / f"{page.stem}_files")
    errors = sum(r["error"] is not None for r in rows)
    body = "\n".join(_row_html(r, locations.get(r["row"], r["query"]), thumbs) for r in rows)
    name = Path(results).name
    write_page(page, f"lookalike: {name}",
               f"<h1>{html.escape(name)}</h1><p>{len(rows)} rows, {errors} errors. "
               f"Blue: the query; then its neighbours, nearest first, with distance d and "
               f"cluster c.</p><table>\n{body}\n</table>", STYLE)
    logger.info("contact sheet of %d rows -> %s", len(rows), page)
    return page
