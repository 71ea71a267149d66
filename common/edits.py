"""The edits that make a near-duplicate of a picture: what calibration and benchmarks apply."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance

Edit = Callable[[Image.Image], Image.Image]


def jpeg(image: Image.Image, quality: int = 50) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def half(image: Image.Image) -> Image.Image:
    return image.resize((max(1, image.width // 2), max(1, image.height // 2)),
                        Image.Resampling.BILINEAR)


def crop(image: Image.Image, keep: float = 0.8) -> Image.Image:
    """The middle keep of each side (80%: a crop that loses a tenth at every edge)."""
    w, h = image.size
    dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return image.crop((dx, dy, max(dx + 1, w - dx), max(dy + 1, h - dy)))


def rotate(image: Image.Image, degrees: float) -> Image.Image:
    return image.convert("RGB").rotate(degrees, Image.Resampling.BILINEAR,
                                       fillcolor=(255, 255, 255))


def brightness(image: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(image.convert("RGB")).enhance(factor)


def contrast(image: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Contrast(image.convert("RGB")).enhance(factor)


def caption(image: Image.Image, text: str = "(c) lookalike 2026") -> Image.Image:
    """A small text overlay in the lower left corner, as a watermark or a date stamp."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    draw.text((max(2, out.width // 40), out.height - max(12, out.height // 12)), text,
              fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
    return out


def mirror(image: Image.Image) -> Image.Image:
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


# Kinds of copy a user means by "the same picture" (issue 27); a mirror is not among them:
# it is a duplicate to some users and not to others, so it is reported apart.
EDITS: dict[str, Edit] = {
    "jpeg50": jpeg,
    "half": half,
    "crop80": crop,
    "rotate+15": lambda im: rotate(im, 15),
    "rotate-15": lambda im: rotate(im, -15),
    "brighter30": lambda im: brightness(im, 1.3),
    "darker30": lambda im: brightness(im, 0.7),
    "contrast+30": lambda im: contrast(im, 1.3),
    "contrast-30": lambda im: contrast(im, 0.7),
    "text": caption,
}


def as_png(image: Image.Image) -> bytes:
    """The edited picture as bytes a decoder reads: PNG is lossless, so only the edit changes
    the pixels (jpeg() has already been through its JPEG)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
