"""Degenerate and unusual image files decode to RGB or fail with a clear InvalidImage."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from lookalike.common.decode import decode_image
from lookalike.common.errors import ImageTooLarge, InvalidImage
from lookalike.encoder.data import load_images


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_grayscale_becomes_three_equal_channels():
    grey = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1)), "L")
    out = decode_image(encode(grey, "PNG"), 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], out[..., 2]) and out[..., 0].std() > 30


def test_cmyk_jpeg_is_converted_to_rgb():
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # pure red in CMYK
    out = decode_image(encode(cmyk, "JPEG"), 16)
    assert out.shape == (16, 16, 3)
    assert out[..., 0].mean() > 200 and out[..., 1].mean() < 60


def test_sixteen_bit_png_keeps_its_range():
    wide = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))
    out = decode_image(encode(Image.fromarray(wide), "PNG"), 64)
    assert out[0, 0, 0] < 10 and out[0, -1, 0] > 245


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ((250, 0, 0), (0, 0, 250))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    out = decode_image(data, 16)
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 50


def test_rgba_is_composited_on_white():
    clear = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    assert decode_image(encode(clear, "PNG"), 8).min() == 255


def test_wildly_different_sizes_all_come_out_at_the_model_size():
    sizes = [(1, 1), (3, 700), (2000, 5), (640, 480)]
    outs = [decode_image(encode(Image.new("RGB", s, (9, 99, 199)), "PNG"), 64) for s in sizes]
    assert all(o.shape == (64, 64, 3) for o in outs)
    assert all(abs(int(o[32, 32, 1]) - 99) <= 1 for o in outs)


@pytest.mark.parametrize(
    ("data", "words"),
    [(b"", "empty"), (b"not an image at all", "not an image"),
     (encode(Image.new("RGB", (64, 64)), "PNG")[:60], "corrupt or truncated")],
)
def test_bad_bytes_raise_invalid_image(data, words):
    with pytest.raises(InvalidImage, match=words):
        decode_image(data)


def test_pixel_cap_is_enforced_before_decoding():
    with pytest.raises(ImageTooLarge, match="over the cap"):
        decode_image(encode(Image.new("L", (300, 300)), "PNG"), max_pixels=10_000)


def test_load_images_reports_failures_and_keeps_the_rest(tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(encode(Image.new("RGB", (10, 10), (1, 2, 3)), "PNG"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    images, kept, failed = load_images([bad, good, tmp_path / "missing.png"], 16)
    assert images.shape == (1, 16, 16, 3) and kept == [1]
    assert [i for i, _ in failed] == [0, 2] and "no such file" in failed[1][1]
