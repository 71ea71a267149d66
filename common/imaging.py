"""Pillow-only picture helpers shared by the decoder and every thumbnail lookalike draws."""

from __future__ import annotations

import io
import threading
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from lookalike.common.errors import ImageTooLarge, InvalidImage
from lookalike.common.sources import read_image_file

# The decoder's default pixel cap (lookalike.common.decode.DEFAULT_MAX_PIXELS).
MAX_PIXELS = 50_000_000
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa"})
SHRINK_MODES = frozenset({"RGB", "L", "RGBA", "LA"})  # resized as they are, then on_white
KEYED_MODES = frozenset({"L", "RGB"})  # modes whose transparency can be one colour (tRNS)


_QUIET = threading.Lock()  # catch_warnings swaps process-wide filters: one swap at a time


def open_image(data: bytes) -> Image.Image:
    """Image.open of encoded bytes, without Pillow's DecompressionBombWarning.

    Pillow warns (on stderr, from each decode worker) about an image over its own limit
    (Image.MAX_IMAGE_PIXELS), which is never below lookalike's pixel cap (decode.allow_pixels
    raises it to the cap): every caller checks the size itself and refuses such an image
    with one clear message of its own, so the warning only says the same thing less well.
    Pillow's hard refusal at twice its limit, DecompressionBombError, still raises.
    """
    with _QUIET, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data))


def keyed_alpha(image: Image.Image) -> Image.Image:
    """image with its transparent colour as alpha (RGBA), where a grey or RGB image marks
    one (a PNG's tRNS chunk); otherwise image itself.

    Pillow keeps such a colour in image.info, not in the pixels, so without this a
    transparent background would be seen as that colour (often black) instead of white.
    """
    if image.mode in KEYED_MODES and "transparency" in image.info:
        return image.convert("RGBA")
    return image


def on_white(image: Image.Image) -> Image.Image:
    """image as RGB, any alpha (RGBA, LA, a palette's or a tRNS colour's transparency)
    composited on white.

    This is what the model sees, so every picture of an image must go through it too:
    a plain convert("RGB") drops the alpha and turns line art on transparency black.
    """
    image = keyed_alpha(image)
    if image.mode == "P":
        image = image.convert("RGBA")  # applies the palette's transparency, if any
    if image.mode in ALPHA_MODES:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def thumbnail(source: bytes | str | Path, size: int, max_pixels: int = MAX_PIXELS
              ) -> Image.Image:
    """An RGB thumbnail of encoded image bytes or a file, its longer side at most size.

    EXIF orientation is applied and alpha is composited on white (on_white), as the
    decoder does; JPEGs are decoded at reduced scale.

    Raises:
        NotFound: a file that is missing or cannot be read.
        InvalidImage: not an image Pillow can read, or corrupt.
        ImageTooLarge: more than max_pixels pixels; refused before decoding them.
    """
    data = source if isinstance(source, bytes) else read_image_file(source)
    try:
        with open_image(data) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(f"{width}x{height} is over the cap of {max_pixels:,} pixels")
            image.draft("RGB", (size, size))  # JPEG only; a no-op for other formats
            image.seek(0)
            ImageOps.exif_transpose(image, in_place=True)
            picture = on_white(_shrunk(image, size))
    except Image.DecompressionBombError as exc:  # over twice Pillow's own limit
        raise ImageTooLarge(f"refused before decoding: {exc}") from None
    except UnidentifiedImageError:
        raise InvalidImage("not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidImage(f"the image is corrupt or truncated: {exc}") from None
    return picture


def _shrunk(image: Image.Image, size: int) -> Image.Image:
    """image at most size x size, so that on_white composites the small image.

    Pillow resizes alpha premultiplied, so shrinking then compositing looks as compositing
    then shrinking did (measured: the same size; opaque images bit for bit, transparent
    ones within half a level on average, a few levels at clipped hard edges). Modes Pillow
    resizes nearest-neighbour ("P", "1"), or whose conversion is not linear, are
    converted first, as on_white would have.
    """
    image = keyed_alpha(image)  # before resizing blends the transparent colour into edges
    if image.mode == "P":
        image = image.convert("RGBA")  # the palette's transparency, if any, kept as alpha
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode not in SHRINK_MODES:
        image = on_white(image)
    image.thumbnail((size, size))
    return image
