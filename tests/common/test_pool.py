"""ordered_map: every item's result, in order, from worker processes; a failure is an error."""

from __future__ import annotations

import os
import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.common.errors import InvalidArgument
from lookalike.common.pool import WorkerFailed, ordered_map, pool_size


def square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def fail_on_13(x: int) -> int:
    if x == 13:
        raise ZeroDivisionError("13 is unlucky")
    return x


def die_on_13(x: int) -> int:
    if x == 13:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


@settings(max_examples=12, deadline=None)
@given(items=st.lists(st.integers(-1000, 1000), max_size=60), workers=st.integers(1, 3),
       chunk=st.integers(1, 7))
def test_results_come_in_order_whatever_the_workers_and_chunks(items, workers, chunk):
    got = list(ordered_map(square_and_pid, items, workers=workers, chunk=chunk))
    assert [value for value, _ in got] == [x * x for x in items]
    pids = {pid for _, pid in got}
    if pool_size(len(items), workers, chunk):
        assert os.getpid() not in pids  # it really ran in other processes
    else:
        assert pids <= {os.getpid()}


def test_few_items_are_mapped_here_and_many_spread_over_the_workers():
    assert pool_size(255, 8) == 0 and pool_size(256, 8) == 2 and pool_size(10_000, 8) == 8
    pids = {pid for _, pid in ordered_map(square_and_pid, range(40), workers=2, chunk=4)}
    # ProcessPoolExecutor starts a second process only while no started one is idle.
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids


@pytest.mark.timeout(60)
def test_an_exception_in_a_worker_is_a_clear_error():
    with pytest.raises(WorkerFailed, match=r"ZeroDivisionError: 13 is unlucky \(in a worker "
                                           r"process, on items 12 to 15, from 12\)"):
        list(ordered_map(fail_on_13, range(40), workers=2, chunk=4))


@pytest.mark.timeout(60)
def test_a_worker_killed_mid_run_is_a_clear_error_not_a_hang():
    with pytest.raises(WorkerFailed, match="a worker process died"):
        list(ordered_map(die_on_13, range(40), workers=2, chunk=4))


def test_results_before_a_failure_are_handed_out_first():
    got = []
    with pytest.raises(WorkerFailed):
        for value in ordered_map(fail_on_13, range(40), workers=2, chunk=4):
            got.append(value)
    assert got == list(range(12))


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", None, True])
def test_bad_worker_counts_are_refused(workers):
    with pytest.raises(InvalidArgument, match="workers must be a whole number of at least 1"):
        list(ordered_map(square_and_pid, range(3), workers=workers))
