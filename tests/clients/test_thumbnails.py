"""Thumbnails through a real server and both clients: every status, order, splitting, the cache,
transparency on white, a deleted file, and bad requests."""

from __future__ import annotations

import io
from pathlib import Path

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lookalike.clients import Client
from lookalike.common.errors import InvalidArgument
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc


def jpeg(image: Image.Image, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", **params)
    return out.getvalue()


def scene(width: int = 640, height: int = 480, seed: int = 0) -> Image.Image:
    """A photo-like picture: smooth gradients and a few blocks, not noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack([x / width * 255, y / height * 255, (x + y) % 256], -1)
    for _ in range(6):
        top, left = rng.integers(0, height - 60), rng.integers(0, width - 60)
        pixels[top:top + 60, left:left + 60] = rng.integers(0, 255, 3)
    return Image.fromarray(pixels.astype(np.uint8))


@pytest.fixture
def files(served, tmp_path: Path) -> dict[str, Path]:
    """Images stored with the paths of files the test controls (the path is metadata only,
    so each is added from a picture of its own and then its file is made what the test
    needs): a photo, a transparent PNG, a file that is not an image, one deleted."""
    _, target = served
    made = {"photo": tmp_path / "photo.jpg", "clear": tmp_path / "clear.png",
            "junk": tmp_path / "junk.jpg", "gone": tmp_path / "gone.jpg"}
    made["photo"].write_bytes(jpeg(scene(), quality=90))
    rgba = np.zeros((200, 100, 4), np.uint8)
    rgba[..., 0] = 255  # red, but fully transparent everywhere but one square
    rgba[80:120, 30:70] = (0, 0, 255, 255)
    Image.fromarray(rgba, "RGBA").save(made["clear"])
    made["junk"].write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG at all" * 10)
    made["gone"].write_bytes(jpeg(scene(seed=3)))
    with Client(target) as client:
        added = client.add([jpeg(scene(64, 64, seed=n)) for n in range(len(made))],
                           ids=list(made), paths=[str(p) for p in made.values()])
    assert all(hasattr(a, "cluster") for a in added), added
    made["gone"].unlink()
    return made


def decoded(thumb) -> Image.Image:
    image = Image.open(io.BytesIO(thumb.image))
    image.load()
    return image


def test_each_status_in_the_order_asked(served, connect, files):
    client = connect(served[1])
    asked = ["photo", "nobody", "clear", "junk", "gone", "photo"]
    got = client("thumbnails", asked)
    assert [t.id for t in got] == asked
    assert [t.status for t in got] == ["ok", "unknown_id", "ok", "unreadable", "file_missing",
                                       "ok"]
    photo = decoded(got[0])
    assert photo.format == "JPEG" and got[0].mime_type == "image/jpeg"
    assert (photo.width, photo.height) == (got[0].width, got[0].height) == (128, 96)
    for missing in got[1], got[3], got[4]:
        assert missing.image == b"" and missing.mime_type == "" and missing.width == 0


def test_the_thumbnail_looks_like_the_file(served, connect, files):
    got = connect(served[1])("thumbnails", ["photo"], size=64)[0]
    small = np.asarray(decoded(got), np.float32)
    expected = np.asarray(scene().resize((64, 48), Image.LANCZOS), np.float32)
    assert small.shape == expected.shape == (48, 64, 3)
    assert np.abs(small - expected).mean() < 12  # JPEG's loss, not another picture


def test_a_transparent_png_comes_back_drawn_on_white(served, connect, files):
    got = connect(served[1])("thumbnails", ["clear"], size=100)[0]
    pixels = np.asarray(decoded(got).convert("RGB"), np.int32)
    assert pixels.shape == (100, 50, 3)
    corner = pixels[:20, :20].reshape(-1, 3)
    assert (corner > 240).all(), "the transparent area must be white, not red or black"
    middle = pixels[45:55, 20:30].reshape(-1, 3).mean(0)
    assert middle[2] > 200 and middle[0] < 60  # the opaque blue square stays blue


def test_a_file_deleted_after_its_thumbnail_was_cached_is_missing(served, connect, files):
    client = connect(served[1])
    assert client("thumbnails", ["photo"])[0].status == "ok"
    files["photo"].unlink()
    assert client("thumbnails", ["photo"])[0].status == "file_missing"
    files["photo"].write_bytes(jpeg(Image.new("RGB", (300, 300), (0, 200, 0))))
    back = client("thumbnails", ["photo"])[0]
    assert back.status == "ok" and (back.width, back.height) == (128, 128)
    assert np.asarray(decoded(back))[64, 64, 1] > 180  # the new file's green, not the old


def test_a_second_ask_comes_from_the_cache(served, connect, files):
    running, target = served
    cache = running.engine.thumbnails.cache
    client = connect(target)
    first = client("thumbnails", ["photo", "clear"], size=77)
    hits = cache.hits
    again = client("thumbnails", ["photo", "clear"], size=77)
    assert cache.hits == hits + 2
    assert [t.image for t in again] == [t.image for t in first]


def test_the_collections_own_files_and_more_than_100_ids(served, connect, image_folder):
    client = connect(served[1])
    items = client("browse", page_size=1000).items
    ids = [item.id for item in items] * 3  # 144 ids: two calls of the SDK, order kept
    got = client("thumbnails", ids, size=32)
    assert [t.id for t in got] == ids
    assert {t.status for t in got} == {"ok"}
    assert all(max(t.width, t.height) <= 32 for t in got)
    assert client("thumbnails", []) == []


@pytest.mark.parametrize("size", [8, 15, 513, 4096, -1])
def test_a_size_out_of_range_is_invalid_argument(served, connect, size):
    with pytest.raises(InvalidArgument, match="size"):
        connect(served[1])("thumbnails", ["0"], size=size)


@pytest.mark.parametrize("ids, words", [
    ([], "no ids"), ([str(n) for n in range(101)], "at most 100"), ([""], "id must be"),
    (["x" * 5000], "id must be")], ids=["none", "101", "empty", "overlong"])
def test_bad_id_lists_are_invalid_argument_on_the_wire(served, ids, words):
    with grpc.insecure_channel(served[1]) as channel:
        stub = pb_grpc.LookalikeStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Thumbnail(pb.ThumbnailRequest(ids=ids), timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in raised.value.details()


NUMBERS = [str(n) for n in range(60)]  # the build's ids are row numbers: some are stored


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.text(min_size=0, max_size=300) | st.sampled_from(NUMBERS),
                   min_size=1, max_size=8),
       size=st.integers(-10, 600))
def test_any_ids_and_size_answer_statuses_or_invalid_argument(served, ids, size):
    """Hostile ids (control characters, paths, SQL, huge) never break the call: a valid
    request answers UNKNOWN_ID for each id nobody stored, anything else INVALID_ARGUMENT."""
    ids = [i for i in ids if not _surrogate(i)]  # no UTF-8 for these: protobuf refuses to send
    valid = bool(ids) and all(ids) and (size == 0 or 16 <= size <= 512)
    with grpc.insecure_channel(served[1]) as channel:
        stub = pb_grpc.LookalikeStub(channel)
        try:
            answer = stub.Thumbnail(pb.ThumbnailRequest(ids=ids, size=size), timeout=30)
        except grpc.RpcError as err:
            assert not valid, err
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
            return
        stored = {i.id for i in stub.Get(pb.GetRequest(ids=ids), timeout=30).items}
    assert valid
    assert [t.id for t in answer.thumbs] == ids
    for t in answer.thumbs:
        assert t.status == (pb.Thumb.OK if t.id in stored else pb.Thumb.UNKNOWN_ID)


def _surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
