"""What only AsyncClient does: async iterables as input. The rest is in test_parity.py."""

from __future__ import annotations

import asyncio

import pytest

from lookalike.clients import AsyncClient, Client
from lookalike.common.errors import NotFound


def same_neighbors(a, b) -> bool:
    """Same ids in the same order; distances may differ by float noise (server batching)."""
    return ([n.id for n in a.neighbors] == [n.id for n in b.neighbors] and
            [n.distance for n in a.neighbors] == pytest.approx(
                [n.distance for n in b.neighbors], abs=1e-6))


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
