"""Image paths as stored and sent: always valid UTF-8 text, and lossless for any file name."""

from __future__ import annotations

import os
from urllib.parse import quote, unquote_to_bytes

from lookalike.common.errors import InvalidArgument

FILE_URI = "file://"


def stored_path(path: str) -> str:
    """The text form of a path or URL: itself when it is valid UTF-8, else a file:// URI.

    A Linux file name is bytes; Python shows bytes that are not UTF-8 as surrogate escapes,
    which neither SQLite text nor protobuf strings can hold. Such a path becomes
    file:///dir/caf%E9.jpg (RFC 8089, every byte kept), and local_path() gives it back.

    Raises:
        InvalidArgument: text that no file name can have (a lone surrogate, not an escape).
    """
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        pass
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:
        raise InvalidArgument(f"the path {path!r} is not valid text") from None
    return FILE_URI + quote(raw, safe="/")


def local_path(stored: str) -> str:
    """The file-system path of a stored path (the inverse of stored_path for file names)."""
    if stored.startswith(FILE_URI):
        return os.fsdecode(unquote_to_bytes(stored[len(FILE_URI):]))
    return stored


def as_found(location: str) -> str:
    """An absolute path that keeps symlinks as they are (no resolve), or a URL untouched.

    A file linked into several folders keeps each link's own path: the folder a user
    browses by. os.path.abspath only joins the working folder and folds "." and "..".
    """
    if location.startswith(("http://", "https://")):
        return location
    return os.path.abspath(location)
