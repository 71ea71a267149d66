"""The same character drawn by many Debian typefaces: natural pairs for pretraining (issue 28).

Fonts come from Debian `fonts-*` packages (FONT_PACKAGES, fetched by quality_data.fetch).
Characters are letters, digits, punctuation, Greek and Cyrillic, arrows, mathematical and
technical symbols, shapes and a sample of CJK ideographs, kana and Hangul. Emoji are kept
out: no emoji font is fetched, and every character the `emoji` package knows (alone or
with U+FE0F) is dropped, whatever the font.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

logger = logging.getLogger(__name__)

FONT_PACKAGES = [
    "fonts-dejavu-core", "fonts-dejavu-extra", "fonts-liberation", "fonts-freefont-ttf",
    "fonts-urw-base35", "fonts-noto-core", "fonts-wqy-microhei", "fonts-wqy-zenhei",
    "fonts-arphic-ukai", "fonts-arphic-uming", "fonts-ipafont-gothic", "fonts-ipafont-mincho",
    "fonts-roboto-unhinted", "fonts-cantarell", "fonts-croscore", "fonts-crosextra-carlito",
    "fonts-crosextra-caladea", "fonts-comic-neue", "fonts-linuxlibertine", "fonts-lato",
    "fonts-open-sans", "fonts-stix", "fonts-texgyre", "fonts-noto-mono", "fonts-inconsolata",
    "fonts-firacode", "fonts-hack", "fonts-mononoki", "fonts-jetbrains-mono",
    "fonts-unfonts-core", "fonts-nanum", "fonts-takao-gothic", "fonts-vlgothic", "fonts-cmu",
    "fonts-ebgaramond", "fonts-go", "fonts-sil-gentium", "fonts-sil-charis", "fonts-junicode",
    "fonts-lmodern",
]
NOT_TEXT = ("emoji", "symbola", "color", "awesome", "icon")  # never such a font file
RANGES = [  # (first, last) code points, inclusive
    (0x21, 0x7E), (0xA1, 0xFF), (0x391, 0x3C9), (0x410, 0x44F), (0x2190, 0x21FF),
    (0x2200, 0x22FF), (0x2300, 0x23FF), (0x2460, 0x24FF), (0x25A0, 0x25FF), (0x2600, 0x26FF),
    (0x2700, 0x27BF), (0x2B00, 0x2BFF), (0x20A0, 0x20C0), (0x2100, 0x214F), (0x3041, 0x3096),
    (0x30A1, 0x30FA),
]
CJK_SAMPLE, HANGUL_SAMPLE = 500, 200
MAX_FONTS_PER_CHAR = 8


def is_emoji(char: str) -> bool:
    import emoji

    return char in emoji.EMOJI_DATA or char + "\ufe0f" in emoji.EMOJI_DATA


def characters(seed: int = 0) -> list[str]:
    """The characters to draw, emoji dropped; CJK and Hangul as fixed random samples of
    the common ones (GB2312 level 1, KS X 1001)."""
    rng = np.random.default_rng(seed)
    chars = [chr(c) for first, last in RANGES for c in range(first, last + 1)]
    hanzi = [bytes([hi, lo]).decode("gb2312") for hi in range(0xB0, 0xD8)
             for lo in range(0xA1, 0xFF) if (hi, lo) < (0xD7, 0xFA)]
    hangul = []
    for hi in range(0xB0, 0xC9):
        for lo in range(0xA1, 0xFF):
            hangul.append(bytes([hi, lo]).decode("euc_kr"))
    chars += [hanzi[i] for i in rng.choice(len(hanzi), CJK_SAMPLE, replace=False)]
    chars += [hangul[i] for i in rng.choice(len(hangul), HANGUL_SAMPLE, replace=False)]
    return [c for c in chars if c.isprintable() and not c.isspace() and not is_emoji(c)]


def font_files(root: Path) -> list[Path]:
    """Upright regular and bold faces of every family (italics add little but slant)."""
    found = sorted(p for ext in ("ttf", "otf", "ttc")
                   for p in (root / "usr/share/fonts").rglob(f"*.{ext}"))
    keep = []
    for path in found:
        name = path.stem.lower()
        if any(w in name for w in NOT_TEXT) or any(w in name for w in ("italic", "oblique",
                                                                         "slant")):
            continue
        style = name.split("-")[-1] if "-" in name else "regular"
        if style in ("regular", "bold", "book", "roman") or "-" not in name:
            keep.append(path)
    return keep


def _cmap(path: Path) -> set[int]:
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(str(path), fontNumber=0, lazy=True)
        return set(font.getBestCmap() or {})
    except Exception as exc:  # noqa: BLE001 - a font fontTools cannot read is skipped
        logger.info("skipped %s: %s", path, exc)
        return set()


def render(path: Path, char: str, size: int = 64, draw: int = 96) -> np.ndarray | None:
    """char in black on white, its ink cropped, centred and scaled to fill size x size with
    a margin; None when the glyph draws nothing."""
    font = ImageFont.truetype(str(path), draw)
    canvas = Image.new("L", (draw * 2, draw * 2), 255)
    ImageDraw.Draw(canvas).text((draw // 2, draw // 4), char, font=font, fill=0)
    ink = Image.eval(canvas, lambda v: 255 - v).getbbox()
    if ink is None or ink[2] - ink[0] < 2 and ink[3] - ink[1] < 2:
        return None
    glyph = canvas.crop(ink)
    side = int(max(glyph.size) * 1.2) + 2
    square = Image.new("L", (side, side), 255)
    square.paste(glyph, ((side - glyph.size[0]) // 2, (side - glyph.size[1]) // 2))
    small = square.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(small.convert("RGB"))


def font_groups(root: Path, seed: int = 0) -> dict[str, list[tuple[Path, str]]]:
    """'char:U+XXXX' -> up to MAX_FONTS_PER_CHAR (font, char) of fonts that have it."""
    rng = np.random.default_rng(seed)
    cmaps = {path: _cmap(path) for path in font_files(root)}
    groups: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    for char in characters(seed):
        having = [p for p, cmap in cmaps.items() if ord(char) in cmap]
        if len(having) < 2:
            continue
        if len(having) > MAX_FONTS_PER_CHAR:
            having = [having[i] for i in sorted(rng.choice(len(having), MAX_FONTS_PER_CHAR,
                                                           replace=False))]
        groups[f"char:U+{ord(char):04X}"] = [(p, char) for p in having]
    logger.info("%d fonts, %d characters in two or more", len(cmaps), len(groups))
    return dict(groups)
