"""Pillow's own bomb guard and our pixel cap (lookalike.common.decode), without a global."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import struct, zlib
from PIL import Image
from lookalike.common.decode import allow_pixels, decode_image
from lookalike.common.errors import ImageTooLarge, InvalidImage

def png_header(width, height):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, body: (struct.pack(">I", len(body)) + kind + body
                                + struct.pack(">I", zlib.crc32(kind + body)))
    return b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")

Image.MAX_IMAGE_PIXELS = 1_000_000  # a process's own choice; Pillow refuses over twice that
big = png_header(3_000, 1_000)
try:
    decode_image(big, 64, max_pixels=5_000_000)
except ImageTooLarge:
    print("refused by Pillow's guard")
allow_pixels(5_000_000)  # what the server does when --max-pixels is above that guard
try:
    decode_image(big, 64, max_pixels=5_000_000)
except InvalidImage:  # past every cap, then truncated: it has no pixel data
    print("decoded up to the missing data")
print(Image.MAX_IMAGE_PIXELS)
"""


def test_a_cap_above_pillows_guard_takes_effect_only_where_an_application_allows_it():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.split("\n")[:3] == ["refused by Pillow's guard",
                                           "decoded up to the missing data", "5000000"]
