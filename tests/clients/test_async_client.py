"""AsyncClient: the same calls as Client, awaited, against a real server."""

from __future__ import annotations

import asyncio

import pytest

from lookalike.clients import AsyncClient, Client, RetryPolicy
from lookalike.common.errors import InvalidImage, NotFound


def same_neighbors(a, b) -> bool:
    """Same ids in the same order; distances may differ by float noise (server batching)."""
    return ([n.id for n in a.neighbors] == [n.id for n in b.neighbors] and
            [n.distance for n in a.neighbors] == pytest.approx(
                [n.distance for n in b.neighbors], abs=1e-6))


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
    assert same_neighbors(one, expected[0]) and info.count == 48 and health == "SERVING"
    assert len(many) == 12 and all(map(same_neighbors, many[:10], expected))
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


def test_async_search_many_reads_its_input_lazily(shared_target, image_folder):
    data = sorted(image_folder.iterdir())[0].read_bytes()
    pulled = 0

    def images():  # a long input that counts how far it has been read
        nonlocal pulled
        for _ in range(200):
            pulled += 1
            yield data

    async def run():
        async with AsyncClient(shared_target) as client:
            stream = client.search_many(images(), k=1, window=4)
            first = await anext(stream)
            read_by_then = pulled
            rest = [o async for o in stream]
            return first, read_by_then, rest

    first, read_by_then, rest = asyncio.run(run())
    assert first.neighbors and read_by_then <= 4 + 2  # the window, not the whole input
    assert len(rest) == 199 and all(r.neighbors[0].id == first.neighbors[0].id for r in rest)


def test_async_search_many_takes_an_async_iterable_in_order(shared_target, image_folder):
    paths = [str(p) for p in sorted(image_folder.iterdir())[:6]]

    async def images():
        for n, path in enumerate(paths + ["/no/such.png"]):
            # A slow input is not a slow server: nothing is in flight while it waits.
            await asyncio.sleep(1.5 if n == 3 else 0)
            yield path

    async def run():
        async with AsyncClient(shared_target) as client:
            return [o async for o in client.search_many(images(), k=3, window=2,
                                                        timeout=1.0)]

    many = asyncio.run(run())
    with Client(shared_target) as client:
        expected = [client.search(p, k=3) for p in paths]
    assert [r.query for r in many[:6]] == paths
    assert all(map(same_neighbors, many[:6], expected))
    assert isinstance(many[6], NotFound)


def test_async_search_many_resends_unanswered_rows_after_a_restart(server_process,
                                                                   image_folder):
    server = server_process()
    paths = [str(p) for p in sorted(image_folder.iterdir())] * 4
    patient = RetryPolicy(attempts=40, initial_backoff_s=0.1, max_backoff_s=0.5)

    async def run():
        outcomes = []
        async with AsyncClient(server.target, retry=patient) as client:
            async for outcome in client.search_many(iter(paths), k=2, window=4):
                outcomes.append(outcome)
                if len(outcomes) == 20:
                    server.kill()  # rows are in flight: the stream breaks with UNAVAILABLE
                    server_process(port=server.port)
        return outcomes

    outcomes = asyncio.run(run())
    assert [o.query for o in outcomes] == paths  # each row once, in order, none an error
    assert all(o.neighbors for o in outcomes)
