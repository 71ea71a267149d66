"""RowFeed, bulk's prefetch: rows handed over as they become ready, outcomes put back in
row order, a bounded read-ahead, and a slow URL that holds back no other row."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.clients.images import Ready
from lookalike.clients.prefetch import Prepared, RowFeed
from lookalike.common.errors import NotFound

KINDS = ("ok", "fails", "local")


def echo(feed: RowFeed, answered: list[Any], changed: threading.Condition) -> Iterator[Any]:
    """Stands in for search_many: answers every row it is handed, in that order."""
    for query in feed:
        with changed:
            answered.append(query)
            changed.notify_all()
        yield ("answer", query)


class Rows:
    """Rows of the given kinds; the fetch of each URL row waits until it is released."""

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds
        self.locations = [f"http://peer/{i}" if k != "local" else f"file{i}"
                          for i, k in enumerate(kinds)]
        self.released = [threading.Event() for _ in kinds]
        self.started: list[int] = []

    def fetch(self, row: int, location: str) -> Prepared:
        number = int(location.rsplit("/", 1)[1])
        self.started.append(number)
        self.released[number].wait(timeout=10)
        if self.kinds[number] == "fails":
            return Prepared(row, location, error=NotFound(f"{location}: no"))
        return Prepared(row, location, data=location.encode())

    def expected(self, i: int) -> Any:
        if self.kinds[i] == "local":
            return ("answer", f"read {self.locations[i]}")
        if self.kinds[i] == "fails":
            return f"NotFound: {self.locations[i]}: no"
        return ("answer", Ready(self.locations[i].encode()))


def read_local(locations: list[str]) -> Iterator[str]:
    return (f"read {location}" for location in locations)


def shown(outcome: Any) -> Any:
    return f"NotFound: {outcome}" if isinstance(outcome, NotFound) else outcome


@settings(max_examples=40, deadline=None)
@given(kinds=st.lists(st.sampled_from(KINDS), max_size=12), ahead=st.integers(1, 4),
       threads=st.integers(1, 3), data=st.data())
def test_every_row_comes_out_once_in_row_order_with_a_bounded_read_ahead(kinds, ahead,
                                                                         threads, data):
    rows = Rows(kinds)
    release_order = data.draw(st.permutations(range(len(kinds))))
    feed = RowFeed(rows.locations, rows.fetch, read_local, threads=threads, ahead=ahead)
    answered: list[Any] = []
    for event in (rows.released[i] for i in release_order):
        event.set()  # in a random order: rows become ready out of order
    try:
        got = []
        for i, outcome in enumerate(feed.in_row_order(echo(feed, answered, feed.changed))):
            assert all(started < i + ahead for started in rows.started)  # the bound held
            got.append(shown(outcome))
    finally:
        feed.close()
    assert got == [rows.expected(i) for i in range(len(kinds))]


def test_rows_after_a_slow_url_are_handed_over_and_answered_while_it_waits():
    rows = Rows(["ok", "ok", "local", "fails", "ok", "local"])
    for event in rows.released[1:]:
        event.set()
    feed = RowFeed(rows.locations, rows.fetch, read_local, threads=2, ahead=8)
    answered: list[Any] = []
    outcomes = feed.in_row_order(echo(feed, answered, feed.changed))
    try:
        with feed.changed:  # every other sendable row answered while row 0 still waits
            assert feed.changed.wait_for(lambda: len(answered) == 4, timeout=10)
            assert not rows.released[0].is_set()
        rows.released[0].set()
        assert [shown(o) for o in outcomes] == [rows.expected(i) for i in range(6)]
    finally:
        rows.released[0].set()
        feed.close()


def test_an_error_in_preparing_reaches_the_caller():
    def broken(locations: list[str]) -> Iterator[str]:
        raise OSError("a worker process died")
        yield ""  # a generator, as ordered_map is

    feed = RowFeed(["file0", "file1"], Rows([]).fetch, broken, threads=1, ahead=2)
    try:
        outcomes = feed.in_row_order(echo(feed, [], feed.changed))
        try:
            next(outcomes)
        except OSError as exc:
            assert "died" in str(exc)
        else:
            raise AssertionError("no error")
    finally:
        feed.close()
