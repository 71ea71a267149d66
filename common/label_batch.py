"""UpdateMany's batch: many images' own changes and cluster names, applied all or nothing.

`lookalike labels import` sends a whole label file as one batch: each image's edit says
what its labels and attributes become (Change with replace_labels / replace_attributes for
"exactly these"), and each store applies the edits to the payloads it holds *inside* its
write (one SQLite transaction; one Milvus rewrite), so a change another writer made between
the file's export and its import is never overwritten by a stale read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from lookalike.common.errors import InvalidArgument
from lookalike.common.labels import Change, Payload, check_cluster_name

# Images one UpdateMany changes. A 100K-row label file (the export benchmark's size) goes in
# one transaction; past it, memory on the server (every edited payload, and on Milvus every
# rewritten vector, held at once) grows with no gain in meaning. The request must also fit
# the server's message limit (32 MiB by default), which long labels can reach first.
MAX_EDITS = 100_000


class Edit(NamedTuple):
    """One image's change in a batch."""

    id: str
    change: Change


def check_batch(edits: Sequence[Edit], names: Mapping[int, str]) -> dict[int, str]:
    """The checked cluster names (cluster -> name, "" clears) of a batch.

    Raises:
        InvalidArgument: an empty batch, more than MAX_EDITS edits, an id that is not text,
            empty, or edited twice, a negative cluster, or a bad name.
    """
    if not edits and not names:
        raise InvalidArgument("the batch changes nothing: give edits or cluster names")
    if len(edits) > MAX_EDITS:
        raise InvalidArgument(f"{len(edits)} edits; at most {MAX_EDITS} in one call (one "
                              "transaction): split the batch, or let the SDK split it "
                              "(split=True), giving up all-or-nothing across the parts")
    seen: dict[str, int] = {}
    for n, edit in enumerate(edits):
        if not isinstance(edit.id, str) or not edit.id:
            raise InvalidArgument(f"edits[{n}] has no id")
        if edit.id in seen:
            raise InvalidArgument(f"edits[{n}]: id {edit.id[:80]!r} is also "
                                  f"edits[{seen[edit.id]}]; edit each image once")
        seen[edit.id] = n
    checked = {}
    for cluster, name in names.items():
        if isinstance(cluster, bool) or not isinstance(cluster, int) or cluster < 0:
            raise InvalidArgument(f"cluster {cluster!r} is not a cluster number")
        checked[cluster] = check_cluster_name(name)
    return checked


def apply_edits(edits: Sequence[Edit], current: Mapping[str, Payload]) -> dict[str, Payload]:
    """The new payload of every edited image whose payload changes (current: every edited
    image's payload now).

    Raises:
        InvalidArgument: an image would pass MAX_LABELS or MAX_ATTRIBUTES; the message names
            the edit and the image. Nothing is returned, so nothing is applied.
    """
    changed = {}
    for n, edit in enumerate(edits):
        before = current[edit.id]
        after = edit.change.apply(before, f"edits[{n}] (image {edit.id[:80]!r})")
        if after.labels != before.labels or dict(after.attributes) != dict(before.attributes):
            changed[edit.id] = after
    return changed


def renamed(names: Mapping[int, str], now: Mapping[int, str]) -> dict[int, str]:
    """The names of a batch that change something (cluster -> new name, "" clears)."""
    return {c: n for c, n in names.items() if now.get(c, "") != n}
