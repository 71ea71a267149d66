"""Ids: a generated id never collides with one a user gave, and bad ids are refused cleanly."""

import numpy as np
import pytest

from lookalike.common.errors import AlreadyExists, InvalidArgument, NotFound


def one(value: float = 1.0, n: int = 1) -> np.ndarray:
    return np.full((n, 16), value, np.float32)


def test_a_user_id_ahead_of_the_sequence_is_skipped_not_collided_with(collection):
    """Issue 13, defect 1: a user took "802" while the generated ids were at 800; every
    id-less add then failed with AlreadyExists for an id its caller never sent."""
    top = collection.store.count()
    assert collection.add(one(), ["/user.png"], [str(top + 2)])[0].id == str(top + 2)
    generated = [collection.add(one(2.0), [f"/gen{n}.png"], [None])[0].id for n in range(3)]
    assert str(top + 2) not in generated
    assert len(set(generated)) == 3
    assert all(collection.lookup(i)[0].path == f"/gen{n}.png" for n, i in enumerate(generated))
    assert collection.lookup(str(top + 2))[0].path == "/user.png"


def test_a_given_id_in_the_same_batch_is_skipped_too(collection):
    top = collection.store.count()
    # The given id is the very number the id-less row after it would have been given.
    rows = collection.add(one(n=3), ["/a", "/b", "/c"], [str(top + 2), None, None])
    assert [r.id for r in rows][0] == str(top + 2)
    assert len({r.id for r in rows}) == 3
    assert collection.store.count() == top + 3


def test_many_numeric_user_ids_never_block_generated_ones(collection):
    top = collection.store.count()
    taken = [str(top + n) for n in range(1, 200, 2)]  # every other number ahead of the sequence
    collection.add(one(n=len(taken)), ["/u"] * len(taken), taken)
    rows = collection.add(one(3.0, n=150), ["/g"] * 150, [None] * 150)
    ids = [r.id for r in rows]
    assert len(set(ids)) == 150 and not set(ids) & set(taken)
    assert all(r.id == str(r.rowid) for r in rows)  # a generated id is still its row number


def test_a_user_sending_a_generated_id_gets_already_exists(collection):
    generated = collection.add(one(), ["/g"], [None])[0].id
    with pytest.raises(AlreadyExists, match=f"id '{generated}' is already in the collection"):
        collection.add(one(), ["/u"], [generated])


@pytest.mark.parametrize("bad", ["", "x" * 5000, "lone \ud800 surrogate"])
def test_an_unstorable_id_is_refused_and_nothing_is_stored(collection, bad):
    before = collection.store.count()
    with pytest.raises(InvalidArgument, match="id"):
        collection.add(one(n=2), ["/ok", "/bad"], ["fine", bad])
    assert collection.store.count() == before == len(collection)
    with pytest.raises(NotFound):
        collection.lookup("fine")
