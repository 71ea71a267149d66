"""The duplicates contact sheet: which figure carries which mark, and the header's counts."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from lookalike.present.duplicates_sheet import counted, write_duplicates_sheet


class Figures(HTMLParser):
    """Each <figure>'s class and caption text, in page order; the first <p>'s text."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[tuple[str, str]] = []
        self.header, self._in, self._p = "", None, False

    def handle_starttag(self, tag, attrs):
        if tag == "figure":
            self._in = [dict(attrs).get("class", ""), ""]
        self._p = self._p or (tag == "p" and not self.header)

    def handle_endtag(self, tag):
        if tag == "figure":
            self.figures.append((self._in[0], self._in[1]))
            self._in = None
        if tag == "p":
            self._p = False

    def handle_data(self, data):
        if self._in is not None:
            self._in[1] += data
        elif self._p:
            self.header += data


def _record(group, id_, distance, representative, exact):
    return {"group": group, "id": id_, "path": f"/nowhere/{id_}.png", "distance": distance,
            "representative": representative, "exact": exact, "group_size": 0}


def _page(records, tmp_path):
    page = write_duplicates_sheet(records, tmp_path / "dups.html", 3.9)
    parsed = Figures()
    parsed.feed(page.read_text())
    return parsed


def test_the_exact_mark_is_under_the_copy_not_the_representative(tmp_path):
    # group_records flags the representative exact (it is identical to itself): the page
    # must still mark only the copy, as its legend says ("green: an exact copy of it").
    parsed = _page([_record(1, "im6", 0.0, True, True), _record(1, "im0", 0.0, False, True),
                    _record(1, "im3", 1.51, False, False)], tmp_path)
    (rep_css, rep), (copy_css, copy), (near_css, near) = parsed.figures
    assert "query" in rep_css and "exact" not in rep_css and "exact" not in rep
    assert "representative" in rep
    assert copy_css == "exact" and "exact copy" in copy and "d=0" in copy
    assert "exact" not in near_css and "exact" not in near and "d=1.51" in near


def test_one_group_is_counted_in_the_singular(tmp_path):
    parsed = _page([_record(1, "a", 0.0, True, False), _record(1, "b", 0.5, False, False)],
                   tmp_path)
    assert parsed.header.startswith("1 group, 2 images,")


@pytest.mark.parametrize("n, text", [(0, "0 groups"), (1, "1 group"), (2, "2 groups"),
                                     (11, "11 groups")])
def test_counted(n, text):
    assert counted(n, "group") == text
