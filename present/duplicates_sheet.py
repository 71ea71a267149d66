"""An HTML page of duplicate groups, largest first, the representative outlined, to check by eye."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from itertools import groupby
from pathlib import Path
from typing import Any

from lookalike.present.contact_sheet import STYLE, Thumbs, figure
from lookalike.present.html import write_page
from lookalike.present.plot import distance_text

logger = logging.getLogger(__name__)

SERVED_NOTE = ("<p>Found by a server: its files are not read here, so no picture is shown "
               "(a server cannot send thumbnails yet).</p>")
SHEET_STYLE = (STYLE + ".exact figcaption { color: #1a7f37; font-weight: 600; }\n"
               ".query .missing { outline: 3px solid #1f77b4; }\n")


def write_duplicates_sheet(records: Iterable[dict[str, Any]], page: str | Path,
                           threshold: float, pictures: bool = True) -> Path:
    """Writes page with one row per group of copies.indexer group_records' records (grouped
    by their "group" number, in the order given: largest first), thumbnails beside it
    (`<page stem>_files/`); a file that cannot be read shows a placeholder.

    pictures: False where the files are not this machine's to read (groups a server found):
    every image is a placeholder, and the page says why.
    """
    page = Path(page)
    thumbs = Thumbs(page.parent / f"{page.stem}_files") if pictures else NO_THUMBS
    rows, groups, images = [], 0, 0
    for number, members in groupby(records, key=lambda r: r["group"]):
        cells = [_member(m, thumbs) for m in members]
        groups, images = groups + 1, images + len(cells)
        rows.append(f"<tr><td>#{number}<br>{len(cells)}</td><td>{''.join(cells)}</td></tr>")
    write_page(page, "lookalike: duplicates",
               f"<h1>Duplicates</h1><p>{counted(groups, 'group')}, {counted(images, 'image')}, "
               f"threshold "
               f"{threshold:.4g} (squared L2). Blue: the representative (the largest image, "
               f"else the most central); d: each copy's distance to it; green: an exact copy "
               f"of it. Nothing was moved or deleted.</p>{'' if pictures else SERVED_NOTE}"
               f"<table>\n{''.join(rows)}\n</table>",
               SHEET_STYLE)
    logger.info("duplicates sheet of %d groups -> %s", groups, page)
    return page


class _NoThumbs:
    """Thumbs that read nothing: every image a placeholder."""

    missing = "no picture"

    def link(self, _location: str) -> None:
        return None


NO_THUMBS = _NoThumbs()


def _member(record: dict[str, Any], thumbs: Thumbs | _NoThumbs) -> str:
    """One member's figure: the representative outlined; a copy with its distance to it, and
    green with "exact copy" where it is one (the representative is the original it copies,
    never itself marked exact, whatever its record's exact flag says)."""
    name = html.escape(str(record["id"]))
    missing = thumbs.missing
    if record["representative"]:
        return figure(thumbs.link(record["path"]), f"{name}<br>representative", "query",
                      missing)
    exact = bool(record["exact"])
    caption = f"{name}<br>d={distance_text(record['distance'])}" + (" exact copy" if exact else "")
    return figure(thumbs.link(record["path"]), caption, "exact" if exact else "", missing)


def counted(n: int, noun: str) -> str:
    """"1 group", "2 groups", "0 images"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")
