"""Turning whatever the caller holds (path, URL, bytes, PIL image, array) into image bytes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.common.errors import InvalidArgument, InvalidImage, NotFound
from lookalike.common.fetch import FetchLimits, fetch_url
from lookalike.common.sources import is_url


def image_bytes(image: Any, limits: FetchLimits = FetchLimits()) -> bytes:
    """Encoded bytes for image: a path, an http(s) URL, bytes, a PIL image or an array.

    Raises:
        NotFound: a missing file or an unreachable URL.
        InvalidArgument: a value of a kind that is not an image.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, str) and is_url(image):
        return fetch_url(image, limits)
    if isinstance(image, (str, Path)):
        path = Path(image)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no such file: {image}") from None
        except IsADirectoryError:
            raise InvalidImage(f"{image} is a folder, not an image") from None
        except OSError as exc:
            raise NotFound(f"cannot read {image}: {exc.strerror}") from None
    if isinstance(image, np.ndarray):
        from PIL import Image

        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise InvalidArgument(
                f"an array image must be uint8 (h, w) or (h, w, 3|4), got {image.dtype} "
                f"{image.shape}"
            )
        image = Image.fromarray(image)
    if hasattr(image, "save") and hasattr(image, "mode"):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise InvalidArgument(
        f"cannot search by a {type(image).__name__}; give a path, URL, bytes, PIL image or array"
    )
