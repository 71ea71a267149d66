"""update_many's requests: each image's own edit and cluster names, checked with the
server's rules, in one UpdateMany (one transaction) or, only when the caller allows it, in
several.

Splitting is allowed because the edits of one batch are independent: each names one image
at most once and says what that image's labels and attributes become or gain, so applying
the parts in turn ends in the same state as one call. What a split gives up is the
all-or-nothing of the whole: a part that fails leaves the parts before it applied. So the
SDK splits only with split=True, and then checks every part first (dry runs): an unknown id
or a bad edit anywhere, and no part is applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lookalike.clients.checks import checked, int32, text
from lookalike.clients.errors import BadAnswer
from lookalike.clients.results import Edited
from lookalike.common.errors import InvalidArgument
from lookalike.common.label_batch import MAX_EDITS, Edit, check_batch
from lookalike.common.labels import Change
from lookalike.proto.convert import attributes_to
from lookalike.proto.v1 import lookalike_pb2 as pb

HEADROOM = 0.9  # of the message limit a request fills: the envelope and the names


@dataclass(frozen=True)
class ImageEdit:
    """One image's change in update_many.

    labels: the image's labels become exactly these (None: add_labels and remove_labels
        change them). attributes: its attributes become exactly these (None:
        set_attributes and clear_attributes change them).
    """

    id: str
    labels: Iterable[str] | None = None
    add_labels: Iterable[str] = ()
    remove_labels: Iterable[str] = ()
    attributes: Mapping[str, str | float] | None = None
    set_attributes: Mapping[str, str | float] = field(default_factory=dict)
    clear_attributes: Iterable[str] = ()


@dataclass(frozen=True)
class CheckedEdit(ImageEdit):
    """An ImageEdit whose change was already built from checked values (a label file's row,
    checked line by line as it was read): sent as it is, not checked a second time. The
    server checks every edit either way."""

    change: Change | None = None


def _message(id_: str, change: Change) -> pb.ImageEdit:
    return pb.ImageEdit(
        id=id_, add_labels=sorted(change.add_labels), remove_labels=sorted(change.remove_labels),
        set_attributes=attributes_to(change.set_attributes),
        clear_attributes=sorted(change.clear_attributes), replace_labels=change.replace_labels,
        replace_attributes=change.replace_attributes)


def _listed(values: Iterable[str] | str) -> list[str]:
    return [values] if isinstance(values, str) else list(values)


def edit_message(edit: ImageEdit, n: int) -> tuple[Edit, pb.ImageEdit]:
    """The checked change of edits[n] and its message."""
    if not isinstance(edit, ImageEdit):
        raise InvalidArgument(f"edits[{n}] must be an ImageEdit, got {type(edit).__name__}")
    what = f"edits[{n}]"
    id_ = text(edit.id, f"{what}.id")
    if isinstance(edit, CheckedEdit) and edit.change is not None:
        return Edit(id_, edit.change), _message(id_, edit.change)
    replace_labels, replace_attributes = edit.labels is not None, edit.attributes is not None
    if replace_labels and (_listed(edit.add_labels) or _listed(edit.remove_labels)):
        raise InvalidArgument(f"{what}: give labels (exactly these) or add_labels and "
                              "remove_labels, not both")
    if replace_attributes and (edit.set_attributes or _listed(edit.clear_attributes)):
        raise InvalidArgument(f"{what}: give attributes (exactly these) or set_attributes "
                              "and clear_attributes, not both")
    adds = _listed(edit.labels if edit.labels is not None else edit.add_labels)
    sets = edit.attributes if replace_attributes else edit.set_attributes
    if not isinstance(sets, Mapping):
        raise InvalidArgument(f"{what}: attributes must be a mapping of key to value, got "
                              f"{type(sets).__name__}")
    try:  # Change.checked checks every label, key and value once
        change = Change.checked(adds, _listed(edit.remove_labels), sets.items(),
                                _listed(edit.clear_attributes), replace_labels,
                                replace_attributes)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{what} (id {id_[:80]!r}): {exc}") from None
    return Edit(id_, change), _message(id_, change)


def update_many_requests(edits: Iterable[ImageEdit], cluster_names: Mapping[int, str] | None,
                         dry_run: bool, split: bool, max_bytes: int
                         ) -> list[pb.UpdateManyRequest]:
    """One request, or (split) as many as the limits need; cluster names go with the first.

    Raises:
        InvalidArgument: a bad edit or name, an id edited twice, or (not split) more than
            MAX_EDITS edits or more bytes than the message limit.
    """
    made = [edit_message(e, n) for n, e in enumerate(edits)]
    names = {int32(c, "cluster"): text(name, f"cluster {c}'s name")
             for c, name in (cluster_names or {}).items()}
    check_batch([m[0] for m in made] if len(made) <= MAX_EDITS else [], names)
    if len(made) > MAX_EDITS:
        check_batch([m[0] for m in made[:MAX_EDITS]], names)  # the message names the limit
    first = pb.UpdateManyRequest(dry_run=bool(dry_run), cluster_names=[
        pb.ClusterName(cluster=c, name=n) for c, n in sorted(names.items())])
    budget = int(max_bytes * HEADROOM)
    parts, size = [first], first.ByteSize()
    for _, msg in made:
        grow = msg.ByteSize() + 6  # the field's tag and length
        if len(parts[-1].edits) >= MAX_EDITS or size + grow > budget:
            if not split:
                raise InvalidArgument(
                    f"{len(made)} edits take more than one call allows (at most {MAX_EDITS} "
                    f"edits and {budget} bytes): one call is one transaction; pass "
                    "split=True to send it in parts, each all or nothing on its own")
            parts.append(pb.UpdateManyRequest(dry_run=bool(dry_run)))
            size = 0
        parts[-1].edits.append(msg)
        size += grow
    if len(parts) > 1:  # ids are unique over the whole batch, not only within a part
        seen: set[str] = set()
        for _, msg in made:
            if msg.id in seen:
                raise InvalidArgument(f"id {msg.id[:80]!r} is edited twice; edit each image "
                                      "once")
            seen.add(msg.id)
    return parts


def edited_of(response: pb.UpdateManyResponse, asked: pb.UpdateManyRequest) -> Edited:
    """The checked Edited of an UpdateMany answer (a breach of the contract is BadAnswer)."""
    checked(response, "the server's update_many answer")
    if min(response.changed, response.unchanged, response.names_changed) < 0:
        raise BadAnswer("the server's update_many answer has a negative count")
    if response.applied and response.missing:
        raise BadAnswer("the server's update_many answer says applied, with ids missing")
    wanted = {e.id for e in asked.edits}
    if any(m not in wanted for m in response.missing) or (
            response.changed + response.unchanged > len(asked.edits)):
        raise BadAnswer("the server's update_many answer counts images it was not asked for")
    return Edited(response.applied, response.changed, response.unchanged,
                  list(response.missing), response.names_changed)


class EditPlan:
    """The calls of one update_many: its request, or for a split batch a dry run of every
    part first, then (no id missing in any) the parts themselves."""

    def __init__(self, edits: Iterable[ImageEdit], cluster_names: Mapping[int, str] | None,
                 dry_run: bool, split: bool, max_bytes: int) -> None:
        parts = update_many_requests(edits, cluster_names, dry_run, split, max_bytes)
        trials = [] if len(parts) == 1 or dry_run else [
            pb.UpdateManyRequest(edits=p.edits, cluster_names=p.cluster_names, dry_run=True)
            for p in parts]
        self._due = trials + parts
        self._trials = len(trials)
        self._sent: pb.UpdateManyRequest | None = None
        self._done: list[Edited] = []

    def next(self) -> pb.UpdateManyRequest | None:
        """The next request to send; None when the batch is answered."""
        if not self._due:
            return None
        self._sent = self._due.pop(0)
        return self._sent

    def answer(self, response: pb.UpdateManyResponse) -> None:
        assert self._sent is not None
        got = edited_of(response, self._sent)
        if self._trials:
            self._trials -= 1
            if got.missing:  # a trial found unknown ids: nothing is applied
                self._due, self._done = [], [Edited(False, 0, 0, got.missing, 0)]
            return
        self._done.append(got)

    def result(self) -> Edited:
        parts = self._done
        return Edited(all(p.applied for p in parts), sum(p.changed for p in parts),
                      sum(p.unchanged for p in parts), [i for p in parts for i in p.missing],
                      sum(p.names for p in parts))
