"""update_many on both stores (local, and the real Milvus server): a whole batch of
per-image edits and cluster names applied all or nothing, and never losing a concurrent
writer's change (a real race, synchronised on conditions)."""

from __future__ import annotations

import threading

import pytest

from lookalike.common.errors import InvalidArgument
from lookalike.common.label_batch import MAX_EDITS, Edit
from lookalike.common.labels import MAX_LABELS, Change
from lookalike.indexer.interface import Target
from tests.indexer.test_labels_contract import _every, _ids


def exactly(labels: list[str], **attrs: object) -> Change:
    """"This image's labels and attributes become exactly these" (a label file's row)."""
    return Change.checked(labels, (), attrs.items(), (), replace_labels=True,
                          replace_attributes=True)


def snapshot(store) -> tuple[dict, dict, dict]:
    return _every(store), store.label_counts(), store.cluster_names()


def test_a_bad_edit_in_the_middle_changes_nothing(store) -> None:
    ids = _ids(store)[:9]
    store.update(Target(ids=(ids[4],)), Change.checked(
        add_labels=[f"l{i}" for i in range(MAX_LABELS - 2)]))
    store.name_cluster(0, "before")
    before = snapshot(store)
    edits = [Edit(i, exactly(["new"], price=float(n))) for n, i in enumerate(ids)]
    edits[4] = Edit(ids[4], Change.checked(add_labels=["x", "y", "z"]))  # one over the cap
    with pytest.raises(InvalidArgument, match=r"edits\[4\].*would carry 65 labels"):
        store.update_many(edits, {0: "after", 1: "ones"})
    assert snapshot(store) == before
    ghost = [*edits[:4], Edit("ghost", exactly(["new"])), *edits[5:]]
    done = store.update_many(ghost, {0: "after"})
    assert (done.applied, done.missing) == (False, ["ghost"]) and snapshot(store) == before
    trial = store.update_many(edits[:4] + edits[5:], {0: "after"}, dry_run=True)
    assert (trial.applied, trial.changed, trial.names) == (False, 8, 1)
    assert snapshot(store) == before


def test_a_batch_applies_exact_and_relative_edits_and_names(store) -> None:
    ids = _ids(store)[:6]
    store.update(Target(ids=tuple(ids)), Change.checked(add_labels=["old", "keep"],
                                                        set_attributes=[("note", "x")]))
    edits = [Edit(ids[0], exactly(["cat"], price=3.0)),
             Edit(ids[1], Change.checked(["cat"], ["old"], [("price", 4)], ["note"])),
             Edit(ids[2], Change.checked((), (), (), (), replace_labels=True)),
             Edit(ids[3], Change.checked(add_labels=["old"]))]  # already so
    done = store.update_many(edits, {2: "twos", 3: ""})
    assert (done.applied, done.changed, done.unchanged, done.names) == (True, 3, 1, 1)
    got = {i.row.id: i.payload for i in store.get(ids)[0]}
    assert (got[ids[0]].labels, dict(got[ids[0]].attributes)) == ({"cat"}, {"price": 3.0})
    assert (got[ids[1]].labels, dict(got[ids[1]].attributes)) == ({"cat", "keep"},
                                                                   {"price": 4.0})
    assert (got[ids[2]].labels, dict(got[ids[2]].attributes)) == (set(), {"note": "x"})
    assert got[ids[3]].labels == {"old", "keep"}
    assert store.cluster_names() == {2: "twos"}
    assert store.label_counts() == {"keep": 4, "old": 3, "cat": 2}
    again = store.update_many(edits, {2: "twos"})
    assert (again.changed, again.unchanged, again.names) == (0, 4, 0)


def test_the_batch_itself_is_checked(store) -> None:
    one = Change.checked(add_labels=["a"])
    with pytest.raises(InvalidArgument, match="edited twice|edit each image once"):
        store.update_many([Edit("1", one), Edit("1", one)], {})
    with pytest.raises(InvalidArgument, match="changes nothing"):
        store.update_many([], {})
    with pytest.raises(InvalidArgument, match="not in this collection"):
        store.update_many([], {999: "far"})
    with pytest.raises(InvalidArgument, match=f"at most {MAX_EDITS}"):
        store.update_many([Edit(str(n), one) for n in range(MAX_EDITS + 1)], {})


def test_a_concurrent_writer_keeps_its_change(store) -> None:
    """A writer sets `seen` on the imported images over and over while batches set their
    labels and `price` exactly as a file would; every image ends with the writer's last
    acknowledged `seen` and the batch's labels. A batch that read the payloads before
    writing them outside its transaction would put back a stale `seen`."""
    ids = tuple(_ids(store)[:40])
    acknowledged: list[int] = []
    first, done, stop = threading.Event(), threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            n = 0
            while not stop.is_set():
                n += 1
                store.update(Target(ids=ids), Change.checked(set_attributes=[("seen", n)]))
                acknowledged.append(n)
                first.set()
                if done.is_set() and len(acknowledged) >= written_before_done[0] + 2:
                    return  # two writes after the batches ended: it raced them throughout
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)
            first.set()

    written_before_done = [0]
    thread = threading.Thread(target=writer)
    thread.start()
    assert first.wait(60)
    rounds = 0
    while rounds < 4 or len(acknowledged) < 3:  # batches and writes interleave
        store.update_many([Edit(i, Change.checked([f"r{rounds}"], (), [("price", rounds)], (),
                                                  replace_labels=True)) for i in ids], {})
        rounds += 1
    written_before_done[0] = len(acknowledged)
    done.set()
    thread.join(120)
    stop.set()
    assert not thread.is_alive() and not failures, failures
    last = acknowledged[-1]
    for item in store.get(list(ids))[0]:
        assert item.payload.labels == {f"r{rounds - 1}"}
        assert dict(item.payload.attributes) == {"seen": float(last),
                                                 "price": float(rounds - 1)}
