"""Decoding image bytes safely and fast into a fixed-size uint8 RGB array (Pillow only)."""

from __future__ import annotations

import io

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from lookalike.common.errors import ImageTooLarge, InvalidImage
from lookalike.common.imaging import keyed_alpha, on_white, open_image

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})
DEFAULT_MAX_PIXELS = 50_000_000


def allow_pixels(max_pixels: int) -> None:
    """Lets Pillow open images of up to max_pixels pixels, for a process whose cap is set
    above Pillow's own guard (Image.MAX_IMAGE_PIXELS, about 89M, refusing at twice that).

    decode_image enforces its cap itself and never touches Pillow's global, so a library
    caller (the SDK) keeps whatever limit its process chose; only an application that is
    configured to take larger images, the server, calls this, once.
    """
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and max_pixels > limit:
        Image.MAX_IMAGE_PIXELS = max_pixels


def decode_image(data: bytes, size: int = 64, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decodes encoded image bytes into a (size, size, 3) uint8 RGB array.

    EXIF orientation is applied, alpha (a transparent colour too) is composited on white,
    JPEGs are decoded at reduced scale (draft mode), and only the first frame of an
    animation is used. Other images are shrunk in their decoded mode before any
    conversion, so one costs at most about 8 bytes per pixel (its decoded pixels, and one
    premultiplied copy for alpha).

    Raises:
        InvalidImage: empty, truncated, undecodable, or a format outside the allow-list.
        ImageTooLarge: more than max_pixels pixels; refused before pixels are decoded.
    """
    if not data:
        raise InvalidImage("the image is empty (0 bytes)")
    try:
        image = open_image(data)
    except Image.DecompressionBombError as exc:  # over twice Pillow's own limit
        claimed = _claimed_size(data)
        if claimed and claimed[0] * claimed[1] > max_pixels:
            raise _too_large(*claimed, max_pixels) from None
        raise ImageTooLarge(f"the image is refused before decoding: {exc}") from None
    except UnidentifiedImageError:
        raise InvalidImage("the bytes are not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImage(f"the image could not be read: {exc}") from None
    if image.format not in ALLOWED_FORMATS:
        raise InvalidImage(
            f"image format {image.format} is not accepted; use JPEG, PNG, WebP, GIF, BMP or TIFF"
        )
    width, height = image.size
    if width * height > max_pixels:
        raise _too_large(width, height, max_pixels)
    try:
        return _to_rgb_array(image, size)
    except Image.DecompressionBombError as exc:  # a GIF frame or TIFF tile over Pillow's limit
        raise ImageTooLarge(f"the image is too large to decode: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidImage(f"the image is corrupt or truncated: {exc}") from None


def _too_large(width: int, height: int, max_pixels: int) -> ImageTooLarge:
    return ImageTooLarge(
        f"the image is {width}x{height} = {width * height:,} pixels, over the cap of "
        f"{max_pixels:,}"
    )


def _claimed_size(data: bytes) -> tuple[int, int] | None:
    """The size the header claims, read by Pillow's own format plugins (Image.OPEN) without
    the bomb check Image.open adds after them, which only a process-wide global can lift."""
    Image.init()
    prefix = data[:16]
    for name in ALLOWED_FORMATS:
        factory, accept = Image.OPEN.get(name, (None, None))
        verdict = True if accept is None else accept(prefix)
        if factory is None or isinstance(verdict, str) or not verdict:  # str: a warning
            continue
        try:
            return factory(io.BytesIO(data), "").size
        except Exception:  # not this format: as Image.open does, try the next
            continue
    return None


def _to_rgb_array(image: Image.Image, size: int) -> np.ndarray:
    if image.format == "JPEG":
        image.draft("RGB", (size, size))
    image.seek(0)
    # Read before resizing: a resized copy no longer carries the file's EXIF.
    orientation = image.getexif().get(ExifTags.Base.Orientation)
    transpose = _EXIF_TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    # Shrink first, in the decoded mode, so no conversion ever copies the full-size image
    # (a 16-bit 7000x7000 PNG took 1.7 GB converting to floats at full size).
    image = _resizable(image)
    if image.size != (size, size):
        # Pillow's box pre-reduction does not take 16-bit modes; its filter then averages alone.
        gap = None if image.mode.startswith("I;16") else 2.0
        image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=gap)
    if transpose is not None:
        image = image.transpose(transpose)
    return np.asarray(_flatten_to_rgb(image), dtype=np.uint8)


# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _resizable(image: Image.Image) -> Image.Image:
    """image in a mode whose resize averages pixels (Pillow resizes "1" and "P" by nearest),
    with a transparent colour (tRNS) turned into alpha before resizing blends it into edges."""
    image = keyed_alpha(image)
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("P", "PA"):
        transparent = image.mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if transparent else "RGB")
    return image


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if wide.max(initial=0) > 255 else 255.0
        image = Image.fromarray((wide / peak * 255).clip(0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        flt = np.asarray(image, dtype=np.float64)
        image = Image.fromarray((flt.clip(0, 1) * 255).astype(np.uint8), "L")
    return on_white(image)
