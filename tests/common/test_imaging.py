"""Every picture lookalike draws composites alpha on white, as the decoder does (issue 13, 14)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lookalike.common.decode import decode_image
from lookalike.common.imaging import on_white, thumbnail

# Grey and RGB images can mark one colour transparent (a PNG's tRNS chunk): a mid grey
# and a blue here, so a decoder that ignores the mark draws a dark background.
KEYED = {"L-key": ("L", 100), "RGB-key": ("RGB", (0, 0, 255))}


def line_art(mode: str, size: int = 64) -> Image.Image:
    """A black cross drawn on full transparency (transparent pixels are black too, or the
    transparent colour of a keyed mode)."""
    if mode in KEYED:
        base, key = KEYED[mode]
        image = Image.new(base, (size, size), key)
        image.info["transparency"] = key
        ink = 0 if base == "L" else (0, 0, 0)
    elif mode == "P":
        image = Image.new("P", (size, size), 0)
        image.putpalette([0, 0, 0] * 256)
        image.info["transparency"] = 0  # index 0 transparent, index 1 opaque black
        ink = 1
    else:
        image = Image.new(mode, (size, size), (0,) * len(mode))
        ink = (0,) * (len(mode) - 1) + (255,)
    draw = ImageDraw.Draw(image)
    draw.line((0, 0, size, size), fill=ink, width=3)
    draw.line((0, size, size, 0), fill=ink, width=3)
    return image


@pytest.fixture(params=[("RGBA", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("P", "GIF"),
                        ("L-key", "PNG"), ("RGB-key", "PNG")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def transparent_file(request, tmp_path: Path) -> Path:
    mode, fmt = request.param
    path = tmp_path / f"art.{fmt.lower()}"
    art = line_art(mode)
    art.save(path, format=fmt, **({"transparency": art.info["transparency"]}
                                  if mode in KEYED else {}))
    with Image.open(path) as saved:  # the file really carries transparency
        assert saved.mode in ("RGBA", "LA") or "transparency" in saved.info
        if mode in KEYED:
            assert saved.mode == KEYED[mode][0]  # still grey or RGB, not converted
    return path


def assert_white_with_black_lines(pixels: np.ndarray) -> None:
    assert pixels.ndim == 3 and pixels.shape[2] == 3
    assert pixels.mean() > 200, "transparency drawn dark"
    assert pixels.min() < 60, "the line art itself is lost"


def test_the_shared_thumbnail_matches_the_decoder(transparent_file):
    data = transparent_file.read_bytes()
    assert np.array_equal(np.asarray(thumbnail(data, 64)), decode_image(data, 64))
    assert_white_with_black_lines(np.asarray(thumbnail(transparent_file, 32)))


def test_on_white_keeps_opaque_modes_as_they_are():
    rgb = Image.new("RGB", (4, 4), (10, 20, 30))
    assert np.array_equal(np.asarray(on_white(rgb)), np.asarray(rgb))
    grey = Image.new("L", (4, 4), 7)
    assert on_white(grey).mode == "RGB" and np.asarray(on_white(grey)).max() == 7
    buffer = io.BytesIO()
    line_art("RGBA").save(buffer, format="PNG")
    half = Image.open(io.BytesIO(buffer.getvalue())).convert("RGBA")
    half.putalpha(128)  # half-transparent black: mid grey on white
    assert 120 <= np.asarray(on_white(half)).mean() <= 135


SDK_PROBE = """
import io, json, os, sys, zlib, struct
xla_before = os.environ.get("XLA_FLAGS")
from PIL import Image
limit_before = Image.MAX_IMAGE_PIXELS
import importlib, pkgutil, lookalike.clients, lookalike.present
sdk = [m.name for m in pkgutil.iter_modules(lookalike.clients.__path__)]
for name in sdk:  # every SDK module, not only what the package's __init__ pulls in
    importlib.import_module("lookalike.clients." + name)
# Client.plot draws through lookalike.present, so every module of it must load as lightly.
present = [m.name for m in pkgutil.iter_modules(lookalike.present.__path__)]
for name in present:
    importlib.import_module("lookalike.present." + name)
from lookalike.clients.images import prepare
from lookalike.common.decode import decode_image
from lookalike.common.errors import ImageTooLarge

buffer = io.BytesIO()
Image.effect_noise((300, 200), 60).convert("RGB").save(buffer, format="PNG")
small = prepare(buffer.getvalue(), 64)  # the SDK's downsizing path, decode included
assert Image.open(io.BytesIO(small)).size == (64, 64)

def png_header(width, height):  # a valid PNG whose IHDR claims width x height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, body: (struct.pack(">I", len(body)) + kind + body
                                + struct.pack(">I", zlib.crc32(kind + body)))
    return b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")

refused = {}
for width in (10_000, 20_000):  # 100 and 200 megapixels: under and over Pillow's own error
    try:
        decode_image(png_header(width, 10_000), 64)
    except ImageTooLarge:
        refused[width] = True
    assert prepare(png_header(width, 10_000), 64) == png_header(width, 10_000)
forbidden = ("lookalike.encoder", "lookalike.indexer", "lookalike.server", "jax", "flax",
             "faiss", "sklearn", "optax")
print(json.dumps({
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in forbidden
                     or m.startswith(forbidden)),
    "xla_flags_same": os.environ.get("XLA_FLAGS") == xla_before,
    "pillow_limit_same": Image.MAX_IMAGE_PIXELS == limit_before,
    "refused": sorted(refused),
    "sdk_modules": len(sdk),
    "present_modules": sorted(present),
}))
"""


def test_the_sdk_and_its_pictures_import_and_downsize_without_the_encoder():
    """The SDK stands alone (issue 14): importing it and lookalike.present (which its
    Client.plot draws with) and downsizing load no encoder, indexer, server, JAX, Faiss or
    scikit-learn, and leave XLA_FLAGS and Pillow's pixel limit as they were, while a 100- or
    200-megapixel header is still refused as ImageTooLarge before decoding.
    """
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "XLA_FLAGS": "--xla_probe_marker=1"}
    done = subprocess.run([sys.executable, "-c", SDK_PROBE], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report.pop("sdk_modules") >= 15
    assert report.pop("present_modules") == ["contact_sheet", "duplicates_sheet", "html",
                                             "plot", "report", "report_plots", "thumbs"]
    assert report == {"loaded": [], "xla_flags_same": True, "pillow_limit_same": True,
                      "refused": [10_000, 20_000]}


def compose_then_shrink(data: bytes, size: int) -> Image.Image:
    """The thumbnail as it was made before issue 14: composited at full size, then shrunk."""
    from PIL import ImageOps

    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (size, size))
        picture = on_white(ImageOps.exif_transpose(image))
    picture.thumbnail((size, size))
    return picture


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "RGB", "L", "1", "CMYK", "I;16", "EXIF"])
def test_shrinking_before_compositing_draws_the_same_thumbnail(mode):
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (12, 17, 3), dtype=np.uint8)
    rgb = Image.fromarray(small).resize((611, 433), Image.BICUBIC)
    ImageDraw.Draw(rgb).line((0, 0, 611, 433), fill=(0, 0, 0), width=7)
    image = rgb.copy()
    image.putalpha(Image.linear_gradient("L").resize(rgb.size).rotate(30))
    image = {"RGBA": image, "LA": image.convert("LA"), "RGB": rgb, "L": rgb.convert("L"),
             "1": rgb.convert("1"), "CMYK": rgb.convert("CMYK"), "P": rgb.quantize(32),
             "I;16": Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 200),
             "EXIF": rgb}[mode]
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees
    options = {"P": {"transparency": 3}, "EXIF": {"exif": exif.tobytes()}}.get(mode, {})
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG" if mode in ("CMYK", "EXIF") else "PNG", **options)
    for size in (64, 160):
        old = np.asarray(compose_then_shrink(buffer.getvalue(), size), np.int16)
        new = np.asarray(thumbnail(buffer.getvalue(), size), np.int16)
        assert new.shape == old.shape and (mode != "EXIF" or new.shape[0] > new.shape[1])
        if mode in ("RGBA", "LA", "P"):  # premultiplied resizing: rounding, clipped edges
            assert np.abs(new - old).mean() < 1 and np.percentile(np.abs(new - old), 99) <= 8
        else:
            assert np.array_equal(new, old)
