"""The one thumbnail every picture and page draws: any image, alpha on white, or None."""

from __future__ import annotations

import logging
from typing import Any

from PIL import Image

from lookalike.common import imaging
from lookalike.common.errors import LookalikeError
from lookalike.common.sources import image_bytes, is_url

logger = logging.getLogger(__name__)


def thumbnail_or_none(image: Any, size: int, *, fetch: bool = True) -> Image.Image | None:
    """common.imaging's thumbnail (EXIF applied, alpha on white, as the decoder does) of a
    path, URL, bytes, PIL image or array, its longer side at most size.

    Returns None for an image that cannot be read here, and for a URL unless fetch.
    """
    if not fetch and isinstance(image, str) and is_url(image):
        return None
    try:
        return imaging.thumbnail(image_bytes(image), size)
    except LookalikeError as exc:
        logger.debug("no thumbnail for %r: %s", image, exc)
        return None
