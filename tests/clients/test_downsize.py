"""SDK-side downsizing: smaller requests, and exactly the answers the originals get."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from lookalike.clients import Client
from lookalike.clients.images import downsize
from lookalike.common.decode import decode_image


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo(size: int = 512, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    pixels = np.stack([ramp[None, :].repeat(size, 0), ramp[:, None].repeat(size, 1),
                       rng.uniform(0, 255, (size, size)).astype(np.float32)], -1)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    return encoded(photo(400).crop((0, 0, 400, 240)), "JPEG", exif=exif.tobytes())


def rgba_png() -> bytes:
    image = photo(300).convert("RGBA")
    alpha = Image.new("L", image.size, 0)
    alpha.paste(255, (50, 50, 250, 250))
    image.putalpha(alpha)
    return encoded(image, "PNG")


CASES = {
    "jpeg_512": lambda: encoded(photo(), "JPEG", quality=90),
    "jpeg_exif_rotated": rotated_jpeg,
    "png_alpha": rgba_png,
    "png_gray_16bit": lambda: encoded(Image.fromarray(
        np.random.default_rng(2).integers(0, 65535, (200, 200)).astype(np.uint16)), "PNG"),
    "gif_palette": lambda: encoded(photo(256).convert("P"), "GIF"),
    "webp": lambda: encoded(photo(320), "WEBP", quality=80),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_downsized_bytes_decode_to_the_same_pixels_and_are_smaller(name):
    original = CASES[name]()
    small = downsize(original, 64)
    assert len(small) < len(original)
    assert np.array_equal(decode_image(small, 64), decode_image(original, 64))


def test_small_or_undecodable_images_are_sent_as_they_are():
    tiny = encoded(photo(32), "PNG")
    assert downsize(tiny, 64) is tiny
    garbage = b"\xff\xd8\xff garbage"
    assert downsize(garbage, 64) is garbage


def test_answers_are_identical_with_and_without_downsizing(shared_target):
    queries = [CASES[name]() for name in sorted(CASES)]
    with Client(shared_target, downsize=True) as small, \
            Client(shared_target, downsize=False) as full:
        assert small.input_size() == 64 and full.input_size() is None
        for data in queries:
            a, b = small.search(data, k=8), full.search(data, k=8)
            assert a.cluster == b.cluster
            assert [(n.id, n.distance) for n in a.neighbors] == [
                (n.id, n.distance) for n in b.neighbors]
        streamed = list(small.search_many(queries, k=8))
        for data, result in zip(queries, streamed, strict=True):
            expected = full.search(data, k=8)
            # The server may batch stream rows together, and the encoder's float sums
            # differ in the last bits between batch sizes: equal ids, distances to 1e-5.
            assert [n.id for n in result.neighbors] == [n.id for n in expected.neighbors]
            assert [n.distance for n in result.neighbors] == pytest.approx(
                [n.distance for n in expected.neighbors], rel=1e-5, abs=1e-6)


def test_bytes_a_worker_made_ready_are_sent_as_they_are(tmp_path):
    """bulk's worker processes return images.Ready: the stream must not decode them again,
    even where downsizing kept the original (smaller than the 64x64 BMP)."""
    from lookalike.clients.images import Ready, prepare
    from lookalike.clients.prefetch import downsized
    from lookalike.common.fetch import FetchLimits

    tiny = tmp_path / "flat.jpg"
    Image.new("RGB", (300, 300), "white").save(tiny, quality=20)  # far under 12 KB
    ready = downsized(str(tiny), 64, FetchLimits())
    assert isinstance(ready, Ready) and bytes(ready) == tiny.read_bytes()
    big = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)).save(
        big, "PNG")
    assert len(prepare(big.getvalue(), 64)) < len(big.getvalue())  # plain bytes: downsized
    assert prepare(Ready(big.getvalue()), 64) == big.getvalue()  # Ready: as they are
    assert downsized(str(tmp_path / "missing.jpg"), 64, FetchLimits()) == str(
        tmp_path / "missing.jpg")
