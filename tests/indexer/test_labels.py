"""The limits on labels, attributes and filters, page tokens, and the cluster-name rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import Condition, Filter, Range, matches
from lookalike.common.labels import (
    MAX_ATTRIBUTES,
    MAX_LABELS,
    Change,
    Payload,
    check_cluster_name,
    check_payload,
)
from lookalike.indexer.pages import check_page_size, make_token, read_token
from lookalike.indexer.recluster import NameMove, carry_names


@pytest.mark.parametrize(("labels", "message"), [
    ([""], "labels[0] is empty"),
    (["ok", "   "], "labels[1] is empty"),
    (["a" * 65], "has 65 characters; at most 64"),
    (["tab\there"], "has a control character"),
    (["nul\0"], "has a control character"),
    (["\ud800"], "not valid UTF-8"),
    ([7], "must be text"),
    ([f"l{i}" for i in range(MAX_LABELS + 1)], "at most 64 per image"),
])
def test_bad_labels_are_refused_naming_the_field(labels, message):
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_payload(labels, (), "row 2: ")


def test_labels_are_stripped_and_counted_once():
    assert check_payload([" cat", "cat ", "dog"]).labels == {"cat", "dog"}
    assert check_payload(["a" * 64]).labels == {"a" * 64}


@pytest.mark.parametrize(("attrs", "message"), [
    ([("", 1)], "key '' must be"),
    ([("a b", 1)], "must be 1-64 characters"),
    ([("k" * 65, 1)], "must be 1-64 characters"),
    ([("price", math.nan)], "numbers must be finite"),
    ([("price", math.inf)], "numbers must be finite"),
    ([("price", True)], "not a boolean"),
    ([("note", "x" * 1025)], "at most 1024"),
    ([("note", "a\x07")], "control character"),
    ([("k", 1), ("k", 2)], "given twice"),
    ([(f"k{i}", 1) for i in range(MAX_ATTRIBUTES + 1)], "at most 32 per image"),
])
def test_bad_attributes_are_refused(attrs, message):
    with pytest.raises(InvalidArgument, match=message):
        check_payload((), attrs)


def test_numbers_are_stored_as_floats_and_text_as_text():
    p = check_payload((), [("n", 3), ("t", "3")])
    assert p.attributes == {"n": 3.0, "t": "3"}


@pytest.mark.parametrize(("build", "message"), [
    (lambda: Filter.checked(all_of=["a"], none_of=["a"]), "in both all_of and none_of"),
    (lambda: Filter.checked(any_of=["a", "b"], none_of=["b", "a"]), "every any_of label"),
    (lambda: Filter.checked(conditions=[Condition("k")]), "exactly one test"),
    (lambda: Filter.checked(conditions=[Condition("k", equals=1.0, exists=True)]),
     "it sets 2"),
    (lambda: Filter.checked(conditions=[Condition("k", range=Range(2, 1))]), "range is empty"),
    (lambda: Filter.checked(conditions=[Condition("k", range=Range(1, 1, True))]),
     "range is empty"),
    (lambda: Filter.checked(conditions=[Condition("k", range=Range(math.nan))]), "NaN"),
    (lambda: Filter.checked(conditions=[Condition("k", equals=math.nan)]), "finite"),
    (lambda: Filter.checked(conditions=[Condition("bad key", exists=True)]), "key"),
    (lambda: Filter.checked(clusters=[]), "at least one cluster"),
    (lambda: Filter.checked(clusters=[-1]), "at least one cluster"),
    (lambda: Filter.checked(any_of=[""]), r"filter.any_of\[0\] is empty"),
])
def test_a_filter_that_contradicts_itself_or_tests_nothing_is_refused(build, message):
    with pytest.raises(InvalidArgument, match=message):
        build()


def test_the_reference_evaluator():
    p = Payload(frozenset({"cat", "black"}), {"price": 12.5, "source": "shop"})
    assert matches(Filter.checked(any_of=["dog", "cat"]), p, "/a/b.png", 3)
    assert not matches(Filter.checked(all_of=["dog", "cat"]), p, "/a/b.png", 3)
    assert not matches(Filter.checked(none_of=["black"]), p, "/a/b.png", 3)
    cond = [Condition("price", range=Range(12.5, 20, low_exclusive=True))]
    assert not matches(Filter.checked(conditions=cond), p, "/a", 3)
    cond = [Condition("price", range=Range(10, 12.5))]
    assert matches(Filter.checked(conditions=cond), p, "/a", 3)
    assert not matches(Filter.checked(conditions=[Condition("source", equals=1.0)]), p, "", 3)
    assert matches(Filter.checked(conditions=[Condition("source", equals="shop")]), p, "", 3)
    assert not matches(Filter.checked(conditions=[Condition("source", range=Range())]), p, "", 3)
    assert matches(Filter.checked(path_prefix="/a/", clusters=[3, 4]), p, "/a/b.png", 3)
    assert not matches(Filter.checked(clusters=[4]), p, "/a/b.png", 3)
    assert Filter.checked(any_of=[" cat"]) == Filter.checked(any_of=["cat"])
    assert Filter.checked().everything


def test_a_change_is_refused_before_anything_is_applied():
    with pytest.raises(InvalidArgument, match="both added and removed"):
        Change.checked(add_labels=["a"], remove_labels=[" a"])
    with pytest.raises(InvalidArgument, match="both set and cleared"):
        Change.checked(set_attributes=[("k", 1)], clear_attributes=["k"])
    with pytest.raises(InvalidArgument, match="changes nothing"):
        Change.checked()
    full = Payload(frozenset(f"l{i}" for i in range(MAX_LABELS)))
    with pytest.raises(InvalidArgument, match="would carry 65 labels"):
        Change.checked(add_labels=["one more"]).apply(full)
    after = Change.checked(add_labels=["x"], remove_labels=["l0"],
                           set_attributes=[("k", "v")]).apply(full)
    assert "x" in after.labels and "l0" not in after.labels and after.attributes == {"k": "v"}


def test_cluster_names_follow_the_label_rules_and_empty_clears():
    assert check_cluster_name("  cats ") == "cats"
    assert check_cluster_name("   ") == ""
    with pytest.raises(InvalidArgument, match="cluster name"):
        check_cluster_name("x" * 65)


def test_page_tokens_are_bound_to_collection_and_filter_and_tamper_evident():
    f = Filter.checked(any_of=["cat"])
    token = make_token(b"secret-a", f, 1234)
    assert read_token(b"secret-a", f, token) == 1234
    assert read_token(b"secret-a", f, "") == 0
    for secret, other, bad in ((b"secret-b", f, token),  # another collection
                               (b"secret-a", Filter.checked(any_of=["dog"]), token),
                               (b"secret-a", f, token[:-2] + ("A" if token[-2] != "A" else "B")
                                + token[-1]),
                               (b"secret-a", f, "not a token!"), (b"secret-a", f, "AAAA")):
        with pytest.raises(InvalidArgument, match="page_token"):
            read_token(secret, other, bad)
    assert check_page_size(0) == 100
    for size in (-1, 1001):
        with pytest.raises(InvalidArgument, match="page_size"):
            check_page_size(size)


def test_a_name_moves_to_the_cluster_that_took_most_of_its_members_else_it_is_dropped():
    old = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    new = np.array([5, 5, 5, 1, 5, 5, 5, 5, 0, 1, 2, 3])
    names = {0: "cats", 1: "dogs", 2: "mixed"}
    carried, moved, dropped = carry_names(names, old, new)
    # cats and dogs both went mostly to 5: dogs gave it more members (4 against 3).
    assert carried == {5: "dogs"}
    assert moved == (NameMove("dogs", 1, 5),)
    assert dropped == (NameMove("cats", 0, -1), NameMove("mixed", 2, -1))


def test_a_filter_survives_the_wire_both_ways():
    from lookalike.indexer.wire import filter_from
    from lookalike.proto.convert import filter_to

    f = Filter.checked(any_of=["a"], none_of=["b"], path_prefix="/x", clusters=[1, 2],
                       conditions=[Condition("p", range=Range(high=3, high_exclusive=True)),
                                   Condition("s", equals="x"), Condition("n", equals=2.0),
                                   Condition("e", exists=True)])
    assert filter_from(filter_to(f)) == f
    assert filter_from(filter_to(Filter())).everything
