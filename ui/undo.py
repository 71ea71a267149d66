"""Label changes the page can take back: each change is applied with its inverse worked out
first (which images will really gain or lose each label), and the inverse is kept.

The inverse touches only the images the change touched: undoing "add cat to cluster 3"
removes cat from the members that did not have it, and leaves those that already did.
A change made by someone else in between is not seen; undo restores this app's own steps.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from lookalike.clients.async_client import AsyncClient
from lookalike.clients.filters import Filter
from lookalike.clients.label_messages import MAX_GET

KEEP = 20  # changes that can be undone, newest first


@dataclass(frozen=True)
class Step:
    """One Update of an inverse: these ids gain `add` and lose `remove`."""

    ids: tuple[str, ...]
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    """What the page asked for: a target (ids or a cluster) and labels to add and remove."""

    add: tuple[str, ...]
    remove: tuple[str, ...]
    ids: tuple[str, ...] | None = None
    cluster: int | None = None

    def describe(self) -> str:
        what = []
        if self.add:
            what.append("added " + ", ".join(repr(label) for label in self.add))
        if self.remove:
            what.append("removed " + ", ".join(repr(label) for label in self.remove))
        target = (f"cluster {self.cluster}" if self.cluster is not None
                  else f"{len(self.ids or ())} images")
        return f"{' and '.join(what) or 'no change'} on {target}"


async def _labels_now(client: AsyncClient, change: Change) -> dict[str, set[str]]:
    """For each label of the change, the target's images that have it now."""
    wanted = set(change.add) | set(change.remove)
    having: dict[str, set[str]] = {label: set() for label in wanted}
    if change.ids is not None:
        ids = list(dict.fromkeys(change.ids))
        for start in range(0, len(ids), MAX_GET):
            items, _ = await client.get(ids[start:start + MAX_GET])
            for item in items:
                for label in wanted.intersection(item.labels):
                    having[label].add(item.id)
        return having
    for label in wanted:
        members = Filter(clusters=(change.cluster,), any_labels=(label,))
        having[label] = {item.id async for item in client.browse_all(members, page_size=1000)}
    return having


async def _targets(client: AsyncClient, change: Change) -> set[str]:
    if change.ids is not None:
        return set(change.ids)
    members = Filter(clusters=(change.cluster,))
    return {item.id async for item in client.browse_all(members, page_size=1000)}


def inverse(change: Change, targets: set[str], having: dict[str, set[str]]) -> list[Step]:
    """The Updates that put back what `change` will alter, given who has each label now."""
    steps = []
    for label in change.add:
        gaining = targets - having[label]
        if gaining:
            steps.append(Step(tuple(sorted(gaining)), remove=(label,)))
    for label in change.remove:
        losing = targets & having[label]
        if losing:
            steps.append(Step(tuple(sorted(losing)), add=(label,)))
    return steps


@dataclass
class Done:
    change: Change
    steps: list[Step]


class UndoLog:
    """Applies changes and keeps their inverses; one lock, so two tabs cannot interleave."""

    def __init__(self) -> None:
        self._done: list[Done] = []
        self._lock = asyncio.Lock()

    @property
    def last(self) -> str | None:
        return self._done[-1].change.describe() if self._done else None

    async def apply(self, client: AsyncClient, change: Change) -> tuple[int, list[str]]:
        """Makes the change; returns (images updated, ids that were not stored)."""
        async with self._lock:
            targets, having = await asyncio.gather(_targets(client, change),
                                                   _labels_now(client, change))
            steps = inverse(change, targets, having)
            target = ({"ids": list(change.ids)} if change.ids is not None
                      else {"cluster": change.cluster})
            done = await client.update(**target, add_labels=change.add,
                                       remove_labels=change.remove)
            if steps:
                self._done = (self._done + [Done(change, steps)])[-KEEP:]
            return done.updated, done.missing

    async def undo(self, client: AsyncClient) -> str | None:
        """Applies the newest kept inverse, step by step; returns what it undid (None:
        nothing to undo)."""
        async with self._lock:
            if not self._done:
                return None
            done = self._done[-1]
            for step in done.steps:
                await client.update(ids=list(step.ids), add_labels=step.add,
                                    remove_labels=step.remove)
            self._done.pop()
            return done.change.describe()
