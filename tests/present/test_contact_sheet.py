"""The bulk contact sheet's rows (the page itself is tested through `lookalike bulk`)."""

from lookalike.present.contact_sheet import _row_html


def test_contact_sheet_shows_float_noise_distances_as_zero():
    class NoThumbs:
        def link(self, _location):
            return None

    row = {"row": 0, "query": "q.png", "error": "", "neighbors": [
        {"id": "1", "path": "a.png", "distance": 2.9e-14, "cluster": 3},
        {"id": "2", "path": "b.png", "distance": 0.03183, "cluster": 3}]}
    cells = _row_html(row, "q.png", NoThumbs())
    assert "d=0 c=3" in cells and "d=0.0318 c=3" in cells and "e-14" not in cells
