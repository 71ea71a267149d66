"""AsyncClient: the same calls as Client, awaited, against a real server."""

from __future__ import annotations

import asyncio

import pytest

from lookalike.clients import AsyncClient, Client
from lookalike.common.errors import InvalidImage, NotFound


def test_async_search_info_health_and_stream_match_the_sync_client(shared_target,
                                                                   image_folder):
    paths = [str(p) for p in sorted(image_folder.iterdir())[:10]]

    async def run():
        async with AsyncClient(shared_target) as client:
            one = await client.search(paths[0], k=3)
            many = [o async for o in client.search_many(paths + ["/no/such.png", b"bad"],
                                                        k=3, window=4)]
            return one, many, await client.info(), await client.health()

    one, many, info, health = asyncio.run(run())
    with Client(shared_target) as client:
        expected = [client.search(p, k=3) for p in paths]
    assert one.neighbors == expected[0].neighbors and info.count == 48 and health == "SERVING"
    assert [r.neighbors for r in many[:10]] == [r.neighbors for r in expected]
    assert isinstance(many[10], NotFound) and isinstance(many[11], InvalidImage)


def test_async_add_delete_and_errors(served, image_folder):
    _, target = served

    async def run():
        async with AsyncClient(target) as client:
            added = await client.add([sorted(image_folder.iterdir())[0], "/no/such.png"],
                                     ids=["a-1", "a-2"])
            deleted = await client.delete(["a-1", "ghost"])
            with pytest.raises(NotFound, match="no image with id 'ghost'"):
                await client.search(id="ghost")
            return added, deleted

    added, deleted = asyncio.run(run())
    assert added[0].id == "a-1" and isinstance(added[1], NotFound)
    assert deleted == (1, ["ghost"])
