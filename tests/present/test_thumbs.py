"""Every picture lookalike.present draws composites alpha on white, as the decoder does."""

from __future__ import annotations

import numpy as np
from PIL import Image

from lookalike.present.contact_sheet import Thumbs
from lookalike.present.report_plots import montage, tile
from lookalike.present.thumbs import thumbnail_or_none
from tests.common.test_imaging import assert_white_with_black_lines


def thumbnail_pixels(image) -> np.ndarray:
    return np.asarray(thumbnail_or_none(image, 160))


def test_plot_thumbnails_are_alpha_on_white(transparent_file):
    assert_white_with_black_lines(thumbnail_pixels(str(transparent_file)))
    with Image.open(transparent_file) as image:  # a PIL image the caller holds
        assert_white_with_black_lines(thumbnail_pixels(image))


def test_contact_sheet_thumbnails_are_alpha_on_white(transparent_file, tmp_path):
    thumbs = Thumbs(tmp_path / "sheet_files")
    link = thumbs.link(str(transparent_file))
    with Image.open(tmp_path / link) as written:
        assert_white_with_black_lines(np.asarray(written.convert("RGB")))


def test_report_montage_tiles_are_alpha_on_white(transparent_file, tmp_path):
    assert_white_with_black_lines(np.asarray(tile(str(transparent_file))))
    out = tmp_path / "montage.png"
    montage({0: [str(transparent_file)] * 3}, [3], out)
    with Image.open(out) as sheet:
        pixels = np.asarray(sheet.convert("RGB"))
    assert_white_with_black_lines(pixels[:, 90:])  # the tiles, right of the labels


def test_unreadable_images_and_unfetched_urls_have_no_thumbnail(tmp_path):
    assert thumbnail_or_none(str(tmp_path / "gone.png"), 64) is None
    assert thumbnail_or_none(b"not an image", 64) is None
    assert thumbnail_or_none("https://example.invalid/x.png", 64, fetch=False) is None
