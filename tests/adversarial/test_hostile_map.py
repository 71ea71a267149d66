"""Both clients' thumbnails and map against a server that breaks the lookalike.v1 contract
(hostile_server.py): each breach is BadAnswer, and good answers are read whole."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.clients import BadAnswer, Thumbnail
from lookalike.proto.v1 import lookalike_pb2 as pb

from .hostile_server import Script
from .test_hostile_server import field


def chunk(ids: list[str], version: str = "v1", **lengths: int) -> pb.MapChunk:
    n = len(ids)
    return pb.MapChunk(ids=ids, x=[0.0] * lengths.get("x", n), y=[0.0] * n,
                       clusters=[0] * lengths.get("clusters", n), placed=[False] * n,
                       map_version=version)


@pytest.mark.parametrize(("script", "call", "words"), [
    (Script(thumbnail=lambda r: pb.ThumbnailResponse(thumbs=[pb.Thumb(id="stranger")])),
     "thumbnails", "thumbnails of ['stranger']"),
    (Script(thumbnail=lambda r: pb.ThumbnailResponse()), "thumbnails", "thumbnails of []"),
    (Script(thumbnail=lambda r: pb.ThumbnailResponse(thumbs=[
        pb.Thumb(id=i, status=9) for i in r.ids])), "thumbnails", "unknown thumbnail status"),
    (Script(thumbnail=lambda r: pb.ThumbnailResponse(thumbs=[
        pb.Thumb(id=i, status=pb.Thumb.OK) for i in r.ids])), "thumbnails", "empty thumbnail"),
    (Script(thumbnail=lambda r: field(1, 0, b"\x05")), "thumbnails", "wrong type: thumbs"),
    (Script(map=lambda r: []), "map", "held no chunk"),
    (Script(map=lambda r: [chunk(["a", "b"], x=1)]), "map", "differ in length"),
    (Script(map=lambda r: [chunk(["a"]), chunk(["b"], "v2")]), "map", "different versions"),
    (Script(map=lambda r: [chunk(["a"]), chunk(["a"])]), "map", "names an id twice"),
    (Script(map=lambda r: [field(1, 0, b"\x05")]), "map", "wrong type: ids"),
], ids=["thumb-stranger", "thumb-none", "thumb-status", "thumb-empty-ok", "thumbs-as-number",
        "map-empty", "map-lengths", "map-versions", "map-id-twice", "map-ids-as-number"])
def test_answers_that_break_the_contract_raise_bad_answer(hostile, script, call, words):
    client = hostile(script)
    with pytest.raises(BadAnswer) as info:
        client(call, ["a", "b"]) if call == "thumbnails" else client(call)
    assert words in str(info.value)


def test_well_behaved_answers_are_read_whole(hostile):
    script = Script()
    client = hostile(script)
    got = client("thumbnails", [str(n) for n in range(150)], size=64)
    assert len(got) == 150 and got[0] == Thumbnail("0", "ok", b"\xff\xd8jpeg", "image/jpeg", 4, 3)
    assert script.calls == ["Thumbnail", "Thumbnail"]  # 100, then 50
    whole = client("map", chunk_size=2)
    assert whole.ids == ["a", "b", "c"] and whole.version == "v1"
    assert np.array_equal(whole.xy, [[0, 2], [1, 3], [4, 5]]) and whole.xy.dtype == np.float32
    assert whole.clusters.tolist() == [0, 1, 2] and whole.placed.tolist() == [False, True, False]
