"""Decoding memory is bounded per pixel, whatever the image's bit depth or mode (issue 13)."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

# Measured in a fresh process: ru_maxrss is a high-water mark, so the test's own allocations
# would hide the decoder's.
PEAK_SCRIPT = """
import resource, sys
import numpy as np
from lookalike.common.decode import decode_image
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = decode_image(data, 64)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(grown * 1024, out.shape, round(float(out.mean()), 2))
"""


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def striped_png(side: int, bit_depth: int, colour_type: int, on: bytes, off: bytes) -> bytes:
    """A side x side PNG, every 7th row of pixels `on`, the rest `off`: tiny on disk, large
    in memory. Written row by row, so the test itself never holds the pixels.
    """
    packer = zlib.compressobj(9)
    rows = (b"\x00" + (on if row % 7 == 0 else off) * side for row in range(side))
    body = b"".join(packer.compress(row) for row in rows) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body)
            + chunk(b"IEND", b""))


def decode_peak(tmp_path: Path, data: bytes) -> tuple[int, str]:
    path = tmp_path / "big.png"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path)], capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    grown, rest = done.stdout.strip().split(" ", 1)
    return int(grown), rest


@pytest.mark.parametrize(
    ("side", "bit_depth", "colour_type", "on", "off", "budget", "mean"),
    [
        # The case: a 16-bit grey 7000x7000 PNG (about 100 KB) took 1.3 GB here,
        # converted to float64 at full size; its own pixels are 2 bytes each.
        (7000, 16, 0, b"\xff\xff", b"\x00\x00", 3, 255 / 7),
        # Opaque black stripes on transparency, composited on white at full size: 23 bytes
        # per pixel before.
        (4000, 8, 6, b"\x00\x00\x00\xff", b"\x00" * 4, 10, 255 * 6 / 7),
    ],
    ids=["grey-16-bit", "rgba"],
)
def test_a_large_image_decodes_within_a_few_bytes_per_pixel(
    tmp_path, side, bit_depth, colour_type, on, off, budget, mean
):
    data = striped_png(side, bit_depth, colour_type, on, off)
    assert len(data) < 200_000
    grown, rest = decode_peak(tmp_path, data)
    assert grown < budget * side * side, f"decoding took {grown / side / side:.1f} bytes/pixel"
    shape, got = rest.rsplit(" ", 1)
    assert shape == "(64, 64, 3)"
    # The stripes were averaged, not lost or clipped: the mean is one row in 7 (or six).
    assert abs(float(got) - mean) < 0.1 * mean
