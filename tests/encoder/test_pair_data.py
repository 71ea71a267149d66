"""The natural-pairs benchmark data: grouping by style, emoji kept out, the held-out split.

Synthetic npm packages in tmp_path stand in for the registry: nothing is downloaded.
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import cross_style  # noqa: E402
import pair_data  # noqa: E402
import pair_fonts  # noqa: E402

SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
       b'<circle cx="8" cy="8" r="6"/></svg>')


def fake_npm(root: Path, name: str, version: str, files: list[str]) -> None:
    """A packed tarball as `npm pack` leaves it, holding package/<file> for each file."""
    root.mkdir(parents=True, exist_ok=True)
    tgz = root / (name.lstrip("@").replace("/", "-") + f"-{version}.tgz")
    with tarfile.open(tgz, "w:gz") as tar:
        for file in files:
            info = tarfile.TarInfo(f"package/{file}")
            info.size = len(SVG)
            tar.addfile(info, io.BytesIO(SVG))


def test_npm_styles_group_by_icon_name_and_drop_emoji_and_single_drawings(tmp_path):
    fake_npm(tmp_path, "remixicon", "1.0.0", [
        "icons/System/home-line.svg", "icons/System/home-fill.svg",
        "icons/Media/play-line.svg", "icons/Media/play-fill.svg",
        "icons/Emoji/emoji-sticker-line.svg", "icons/Emoji/emoji-sticker-fill.svg",
        "icons/System/lonely-line.svg",
    ])
    groups = pair_data.npm_groups(tmp_path, "remixicon", "1.0.0")
    assert sorted(groups) == ["home", "play"]
    assert sorted(p.name for p in groups["home"]) == ["home-fill.svg", "home-line.svg"]


def test_phosphor_weights_are_one_icon(tmp_path):
    fake_npm(tmp_path, "@phosphor-icons/core", "1.0.0", [
        f"assets/{w}/acorn{'' if w == 'regular' else '-' + w}.svg"
        for w in ("regular", "bold", "thin", "fill")])
    groups = pair_data.npm_groups(tmp_path, "@phosphor-icons/core", "1.0.0")
    assert list(groups) == ["acorn"] and len(groups["acorn"]) == 4


def test_cross_style_gallery_item_i_is_query_i_filled(tmp_path):
    fake_npm(tmp_path, "bootstrap-icons", "1.0.0", [
        "icons/alarm.svg", "icons/alarm-fill.svg", "icons/bag.svg", "icons/bag-fill.svg",
        "icons/zoom-in.svg", "icons/only-fill.svg", "icons/emoji-smile.svg",
        "icons/emoji-smile-fill.svg"])
    package = pair_data.npm_package(tmp_path, "bootstrap-icons", "1.0.0")
    gallery, queries, names = cross_style.cross_style_files(package)
    assert names == ["alarm", "bag"]
    assert [p.name for p in queries] == ["alarm.svg", "bag.svg"]
    assert [p.name for p in gallery] == ["alarm-fill.svg", "bag-fill.svg", "only-fill.svg",
                                         "zoom-in.svg"]


def test_the_held_out_set_is_no_pretraining_set():
    assert pair_data.HELD_OUT[0] not in pair_data.NPM_SETS


def test_no_evaluation_theme_is_a_pair_theme():
    import quality_data

    assert not set(quality_data.EVAL_THEMES) & set(pair_data.PAIR_THEMES)
    assert not set(quality_data.EVAL_THEMES.values()) & set(pair_data.PAIR_THEMES.values())


def test_characters_hold_no_emoji():
    pytest.importorskip("emoji")
    chars = pair_fonts.characters()
    assert "A" in chars and "\u2192" in chars  # letters, and an arrow that is not emoji
    for emoji_char in ("\u2600", "\u2764", "\u231a", "\u2b50", "\u2705"):
        assert emoji_char not in chars


def test_a_rendered_glyph_fills_the_square():
    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not font.exists():
        pytest.skip("no DejaVu font on this machine")
    image = pair_fonts.render(font, "H")
    assert image.shape == (64, 64, 3)
    ink = np.argwhere(image[..., 0] < 128)
    height = ink[:, 0].max() - ink[:, 0].min()
    assert 40 <= height <= 56  # the glyph, scaled to the square with a margin
    assert pair_fonts.render(font, " ") is None
