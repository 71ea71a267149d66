"""find_groups against brute force: groups partition the near images, exact copies always group."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lookalike.common.errors import DeadlineExceeded, InvalidArgument
from lookalike.indexer.duplicates import find_groups


def brute_force(vectors: np.ndarray, threshold: float) -> list[set[int]]:
    """Connected components of the pairs at most threshold apart, computed in float64."""
    v = vectors.astype(np.float64)
    near = ((v[:, None] - v[None]) ** 2).sum(-1) <= threshold
    seen, groups = set(), []
    for start in range(len(v)):
        if start in seen:
            continue
        todo, group = [start], {start}
        while todo:
            for j in np.flatnonzero(near[todo.pop()]).tolist():
                if j not in group:
                    group.add(j)
                    todo.append(j)
        seen |= group
        if len(group) > 1:
            groups.append(group)
    return groups


# Small whole coordinates: squared distances are exact whole numbers in float32 as in float64,
# so "at most the threshold" has one answer at the boundary too.
collections = st.integers(2, 60).flatmap(lambda n: st.lists(
    st.lists(st.integers(-3, 3), min_size=4, max_size=4), min_size=n, max_size=n))


@settings(max_examples=60, deadline=None)
@given(collections, st.integers(0, 12), st.booleans(), st.integers(1, 4))
def test_groups_are_the_components_of_the_near_pairs(points, threshold, clustered, k):
    vectors = np.array(points, np.float32)
    assume(threshold < 4 * (vectors**2).sum(1).max() or not vectors.any())  # else refused
    # Any centroids will do: with every cluster probed, the answer must not depend on them.
    centroids = vectors[:k] + np.float32(0.25) if clustered else None
    nlist = 1 if centroids is None else len(centroids)
    groups = find_groups(vectors, threshold, centroids=centroids, nprobe=nlist)
    found = [set(g.members.tolist()) for g in groups]
    # A partition of the images that are near another, each pair near in one group.
    assert sorted(map(sorted, found)) == sorted(map(sorted, brute_force(vectors, threshold)))
    for g in groups:
        rep = vectors[g.representative]
        want = ((vectors[g.members] - rep) ** 2).sum(1)
        np.testing.assert_allclose(g.distances, want, atol=1e-5)
        assert g.distances[0] == 0 and g.exact[0]
    assert [len(g.members) for g in groups] == sorted((len(g.members) for g in groups),
                                                       reverse=True)


def test_exact_copies_group_at_threshold_zero():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 8)).astype(np.float32)
    vectors[5] = vectors[3]
    vectors[17] = vectors[3]
    (group,) = find_groups(vectors, 0.0)
    assert sorted(group.members.tolist()) == [3, 5, 17]
    assert group.exact.all() and not group.distances.any()


def test_content_keys_group_and_flag_exact_copies_whatever_their_vectors():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(6, 8)).astype(np.float32)
    keys = [[b"a", None, b"a", None, None, None]]
    vectors[4] = vectors[5]  # same vector, no key: grouped, but not known to be exact
    groups = find_groups(vectors, 0.0, keys=keys)
    assert [sorted(g.members.tolist()) for g in groups] == [[0, 2], [4, 5]]
    assert groups[0].exact.all() and not groups[1].exact[1:].any()


def test_the_representative_has_the_most_pixels_else_is_the_most_central():
    vectors = np.array([[0, 0], [1, 0], [2, 0]], np.float32)
    assert find_groups(vectors, 1.0)[0].representative == 1  # the middle one
    pixels = np.array([10, 10, 99])
    group = find_groups(vectors, 1.0, pixels=pixels)[0]
    assert group.representative == 2
    assert group.members.tolist() == [2, 1, 0]
    np.testing.assert_allclose(group.distances, [0, 1, 4])


def test_ten_thousand_identical_images_are_one_group_without_all_pairs():
    vectors = np.zeros((10_000, 32), np.float32)
    vectors[:, 0] = 1
    tracemalloc.start()
    groups = find_groups(vectors, 0.1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(groups) == 1 and len(groups[0].members) == 10_000 and groups[0].exact.all()
    assert peak < 64 << 20, f"peak {peak >> 20} MiB"


@pytest.mark.parametrize("n", [0, 1])
def test_too_few_images_have_no_groups(n):
    assert find_groups(np.ones((n, 4), np.float32), 0.5) == []


@pytest.mark.parametrize("threshold, says", [
    (-0.1, "at least 0"), (math.nan, "NaN"), (math.inf, "one group"), (4.0, "one group"),
    ("x", "a number")])
def test_a_threshold_that_means_nothing_is_refused_saying_why(threshold, says):
    vectors = np.eye(4, dtype=np.float32)  # unit vectors: at most 4 apart
    with pytest.raises(InvalidArgument, match=says):
        find_groups(vectors, threshold)


def test_a_caller_gone_away_stops_the_search_at_the_next_range_search():
    vectors = np.random.default_rng(3).normal(size=(2000, 8)).astype(np.float32)
    centroids = vectors[:50]
    asked = []

    def alive() -> bool:
        asked.append(True)
        return len(asked) < 5

    with pytest.raises(DeadlineExceeded, match="stopped"):
        find_groups(vectors, 0.01, centroids=centroids, nprobe=2, alive=alive)
    assert len(asked) == 5  # no range search began after the fifth question said no
    everything = []
    find_groups(vectors, 0.01, centroids=centroids, nprobe=2,
                alive=lambda: everything.append(True) or True)
    assert len(everything) >= 50  # one question per cluster at least, had it gone on
