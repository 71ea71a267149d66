"""The dynamic batcher: lone callers go at once, concurrent ones share a batch."""

from __future__ import annotations

import threading

import pytest

from lookalike.server.batching import BatchConfig, Batcher

LONG_WINDOW = BatchConfig(window_s=30.0, max_batch=64)


def run_threads(count: int, target) -> list[object]:
    results: list[object] = [None] * count

    def one(i: int) -> None:
        try:
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
        assert not t.is_alive(), "a caller is stuck"
    return results


def announcing_callers(batcher: Batcher, count: int):
    """A caller function whose callers all announce themselves before any submits."""
    all_announced = threading.Barrier(count)

    def caller(i: int) -> int:
        with batcher.arrival() as arrival:
            all_announced.wait()
            return arrival.submit(i)

    return caller


def test_a_lone_caller_runs_at_once_even_with_a_long_window():
    sizes: list[int] = []
    batcher = Batcher(lambda xs: [x * 2 for x in xs], LONG_WINDOW, on_batch=sizes.append)
    # Were the lone caller to wait out the 30 s window, run_threads would report it stuck.
    assert run_threads(1, lambda i: batcher.submit(21)) == [42]
    with batcher.arrival() as arrival:
        assert arrival.submit(5) == 10
    assert sizes == [1, 1]


def test_announced_callers_share_one_batch_and_get_their_own_results():
    sizes: list[int] = []
    batcher = Batcher(lambda xs: [x * 10 for x in xs], LONG_WINDOW, on_batch=sizes.append)
    count = 6
    assert run_threads(count, announcing_callers(batcher, count)) == [i * 10 for i in range(count)]
    assert sizes == [count]


def test_batches_are_capped_at_max_batch():
    sizes: list[int] = []
    batcher = Batcher(lambda xs: list(xs), BatchConfig(window_s=30.0, max_batch=4),
                      on_batch=sizes.append)
    count = 10
    assert run_threads(count, announcing_callers(batcher, count)) == list(range(count))
    assert sum(sizes) == count and max(sizes) <= 4


def test_a_caller_that_fails_before_submitting_does_not_hold_the_batch():
    batcher = Batcher(lambda xs: list(xs), LONG_WINDOW)
    both_announced = threading.Barrier(2)

    def caller(i: int) -> int:
        with batcher.arrival() as arrival:
            both_announced.wait()
            if i == 0:
                raise ValueError("undecodable")
            return arrival.submit(i)

    results = run_threads(2, caller)
    assert isinstance(results[0], ValueError) and results[1] == 1


def test_a_failing_batch_raises_in_every_caller_and_the_next_batch_works():
    calls = []

    def run(xs: list[int]) -> list[int]:
        calls.append(len(xs))
        if len(calls) == 1:
            raise RuntimeError("encoder broke")
        return xs

    batcher = Batcher(run, BatchConfig(window_s=0.0))
    with pytest.raises(RuntimeError, match="encoder broke"):
        batcher.submit(1)
    assert batcher.submit(2) == 2


def test_a_batch_function_returning_the_wrong_count_is_an_error():
    batcher = Batcher(lambda xs: [], BatchConfig(window_s=0.0))
    with pytest.raises(RuntimeError, match="returned 0 for 1"):
        batcher.submit(1)
