"""/thumb/<id>: the server's Thumbnail call through the app, batched, cached with HTTP
caching headers, and a placeholder tile (not an error) for a file that is gone."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from benchmarks.testbed import make_images
from lookalike.clients import AsyncClient
from lookalike.common.byte_lru import ByteLru
from lookalike.ui.thumbs import Batcher


def test_a_thumbnail_is_a_small_cached_image(web, sdk):
    id = sdk.browse(page_size=1).items[0].id
    answer = web.get(f"/thumb/{id}", params={"size": 48})
    assert answer.status_code == 200
    assert answer.headers["content-type"] in ("image/jpeg", "image/png")
    assert answer.headers["x-thumb-status"] == "ok"
    assert "max-age" in answer.headers["cache-control"]
    import io

    assert max(Image.open(io.BytesIO(answer.content)).size) <= 48
    again = web.get(f"/thumb/{id}", params={"size": 48},
                    headers={"if-none-match": answer.headers["etag"]})
    assert again.status_code == 304


def test_unknown_ids_and_bad_sizes_are_clear_errors(web):
    missing = web.get("/thumb/no-such-image")
    assert missing.status_code == 404 and "no-such-image" in missing.json()["error"]
    for size in ("5", "513", "big"):
        bad = web.get("/thumb/1", params={"size": size})
        assert bad.status_code == 400 and "size" in bad.json()["error"]


def test_a_file_gone_is_a_placeholder_tile(web, sdk, tmp_path):
    stored, = make_images(tmp_path, count=1, seed=7)
    sdk.add([stored], ids=["gone-file"], paths=[str(stored)])
    stored.unlink()
    try:
        answer = web.get("/thumb/gone-file")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("image/svg+xml")
        assert answer.headers["x-thumb-status"] == "file_missing"
        assert answer.headers["cache-control"] == "no-cache"
        assert b"file missing" in answer.content
    finally:
        sdk.delete(["gone-file"])


def test_requests_that_arrive_together_are_one_call(stack, sdk):
    ids = [i.id for i in sdk.browse(page_size=30).items]

    async def run():
        async with AsyncClient(stack.target, token=stack.token) as client:
            batcher = Batcher(lambda got, size: client.thumbnails(got, size=size), 1 << 20)
            got = await asyncio.gather(*(batcher.get(id, 64) for id in ids))
            truth = await client.thumbnails(ids, size=64)
            cached = await batcher.get(ids[0], 64)
            return batcher.calls, got, truth, cached

    calls, got, truth, cached = asyncio.run(run())
    assert calls == 1
    assert [t.image for t in got] == [t.image for t in truth]
    assert cached is got[0]


def test_the_cache_keeps_the_newest_within_its_bytes():
    cache = ByteLru(250, lambda thumb: len(thumb.image))
    thumbs = {n: SimpleNamespace(image=bytes(100)) for n in range(3)}
    cache.put(("a", 1), thumbs[0])
    cache.put(("b", 1), thumbs[1])
    assert cache.get(("a", 1)) is thumbs[0]  # a is now the newest
    cache.put(("c", 1), thumbs[2])
    assert cache.get(("b", 1)) is None and cache.get(("a", 1)) is thumbs[0]
    assert cache.bytes == 200


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(id=st.text(min_size=1, max_size=300))
def test_any_id_is_an_image_or_a_clear_error(web, id):
    answer = web.get("/thumb/" + quote(id, safe=""))
    assert answer.status_code in (200, 400, 404), answer.text
    if answer.status_code != 200:
        assert answer.json()["error"]
