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

SHEET_STYLE = STYLE + ".exact figcaption { color: #1a7f37; font-weight: 600; }\n"


def write_duplicates_sheet(records: Iterable[dict[str, Any]], page: str | Path,
                           threshold: float) -> Path:
    """Writes page with one row per group of copies.indexer group_records' records (grouped
    by their "group" number, in the order given: largest first), thumbnails beside it
    (`<page stem>_files/`); a file that cannot be read shows a placeholder."""
    page = Path(page)
    thumbs = Thumbs(page.parent / f"{page.stem}_files")
    rows, groups, images = [], 0, 0
    for number, members in groupby(records, key=lambda r: r["group"]):
        cells = []
        for m in members:
            mark = "representative" if m["representative"] else f"d={distance_text(m['distance'])}"
            css = ("query " if m["representative"] else "") + ("exact" if m["exact"] else "")
            cells.append(figure(thumbs.link(m["path"]),
                                 f"{html.escape(str(m['id']))}<br>{mark}"
                                 + (" exact" if m["exact"] else ""), css))
        groups, images = groups + 1, images + len(cells)
        rows.append(f"<tr><td>#{number}<br>{len(cells)}</td><td>{''.join(cells)}</td></tr>")
    write_page(page, "lookalike: duplicates",
               f"<h1>Duplicates</h1><p>{groups} groups, {images} images, threshold "
               f"{threshold:.4g} (squared L2). Blue: the representative (the largest image, "
               f"else the most central); d: each copy's distance to it; green: an exact copy "
               f"of it. Nothing was moved or deleted.</p><table>\n{''.join(rows)}\n</table>",
               SHEET_STYLE)
    logger.info("duplicates sheet of %d groups -> %s", groups, page)
    return page
