"""Every group of near-duplicate embeddings: range search per probed cluster, then union-find.

Free functions, numpy in and out, so both stores (and a server) share them. Distances are
squared L2, the unit every search in lookalike reports. A pair is near when its distance is
at most the threshold; groups are the connected components of the near pairs (single
linkage), so two members of one group may be further apart than the threshold.

Exact copies (the same content key: identical bytes or pixels, or identical vectors where no
key is known) are grouped whatever the threshold. They are collapsed to one node before any
range search, so 10,000 identical images cost one search, never 10,000^2 pairs; a range
search's result is bounded by scanning at most MAX_PAIRS candidates per call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import faiss
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lookalike.common.errors import DeadlineExceeded, InvalidArgument
from lookalike.indexer.clustering import make_quantizer, route

MAX_PAIRS = 1 << 22  # candidates per range_search call: its result stays under ~50 MB
# Below this squared distance two embeddings are the same image: the encoder's own noise
# (one image embedded at two places of a batch differs in the last bit, encoder/embed.py)
# and Faiss's norm-based distances (a few float32 ulps of 2) both stay far under it.
SAME = 1e-6

Alive = Callable[[], bool]  # whether the caller still wants the answer; asked between batches


def always() -> bool:
    return True


def check_alive(alive: Alive) -> None:
    """Stops the work (DeadlineExceeded) once its caller has gone away."""
    if not alive():
        raise DeadlineExceeded("the caller went away or its deadline passed; the duplicate "
                               "search was stopped")


class Group(NamedTuple):
    """One group of near-duplicates, as positions in the input.

    members: (m,) int64 positions, the representative first, then by distance.
    distances: (m,) float32 squared L2 of each member to the representative (0 for it).
    exact: (m,) bool, True where the member is an exact copy of the representative (the
        representative itself included).
    """

    members: np.ndarray
    distances: np.ndarray
    exact: np.ndarray

    @property
    def representative(self) -> int:
        return int(self.members[0])


def check_threshold(threshold: float, vectors: np.ndarray) -> float:
    """The threshold as a float, or InvalidArgument saying why it means nothing.

    The ceiling is the largest squared distance any two of these vectors can have,
    (2 * largest norm)^2 (4 for the L2-normalised embeddings a build stores): at or beyond
    it, every image would be one group.
    """
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise InvalidArgument(f"a duplicate threshold is a number, got {threshold!r}") from None
    if math.isnan(value):
        raise InvalidArgument("a duplicate threshold cannot be NaN: it is a squared distance")
    if value < 0:
        raise InvalidArgument(f"a duplicate threshold is a squared distance, at least 0; got "
                              f"{value:g}")
    norms = np.einsum("ij,ij->i", vectors, vectors) if len(vectors) else np.zeros(1)
    ceiling = 4.0 * float(np.max(norms))
    if ceiling > 0 and value >= ceiling:
        raise InvalidArgument(
            f"a duplicate threshold of {value:g} puts every image in one group: no two of "
            f"these embeddings are more than {ceiling:.3g} apart (squared L2)")
    return value


def exact_labels(vectors: np.ndarray, keys: Sequence[Sequence[bytes | None]] | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(node, exact): node[i] is the position standing for image i in the range search
    (images with identical vectors or keys share one), exact[i] the position of the first
    image i is an exact copy of (itself if none).

    keys: kinds of content key (say file-byte and pixel hashes), each one key or None per
        image; two images sharing a key of any kind are exact copies. None: identical
        vectors stand for identical content.
    """
    n = len(vectors)
    rows = np.ascontiguousarray(vectors).view(np.dtype((np.void, vectors.dtype.itemsize
                                                        * vectors.shape[1]))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    same_vector = first[inverse.ravel()].astype(np.int64)
    key_edges = [_key_edges(kind, n) for kind in keys or ()]
    exact = _components(n, key_edges) if keys is not None else same_vector
    node = _components(n, key_edges + [(np.arange(n), same_vector)])
    return node, exact


def _key_edges(kind: Sequence[bytes | None], n: int) -> tuple[np.ndarray, np.ndarray]:
    if len(kind) != n:
        raise InvalidArgument(f"{len(kind)} content keys for {n} images")
    first: dict[bytes, int] = {}
    a, b = [], []
    for i, key in enumerate(kind):
        if key is not None:
            a.append(i)
            b.append(first.setdefault(key, i))
    return np.array(a, np.int64), np.array(b, np.int64)


def _components(n: int, edges: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each position's component, named by its smallest member."""
    a = np.concatenate([e[0] for e in edges] + [np.zeros(0, np.int64)])
    b = np.concatenate([e[1] for e in edges] + [np.zeros(0, np.int64)])
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)).tocsr()
    _, label = connected_components(graph, directed=False)
    smallest = np.full(label.max() + 1 if n else 0, n, np.int64)
    np.minimum.at(smallest, label, np.arange(n))
    return smallest[label]


def near_components(vectors: np.ndarray, threshold: float, clusters: np.ndarray | None = None,
                    centroids: np.ndarray | None = None, nprobe: int = 1,
                    alive: Alive = always) -> np.ndarray:
    """Each vector's component (its smallest member's position) in the graph of pairs at most
    threshold apart, found by range search within each vector's nprobe nearest clusters
    (all vectors are one cluster when centroids is None). alive is asked before each range
    search call; once it says no, the work stops with DeadlineExceeded."""
    n = len(vectors)
    label = np.arange(n, dtype=np.int64)
    if n < 2:
        return label
    vectors = np.ascontiguousarray(vectors, np.float32)
    # Faiss keeps distances strictly below the radius; "at most" means one ulp above.
    radius = float(np.nextafter(np.float32(max(threshold, SAME)), np.float32(np.inf)))
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    held = 0
    # One thread per range search: a cluster is small, and OpenMP's spinning workers cost
    # 5x the search itself on a busy machine (measured: 9.3 s against 1.9 s, 20K images).
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        for db, queries in _cluster_scans(vectors, clusters, centroids, nprobe):
            index = faiss.IndexFlatL2(vectors.shape[1])
            index.add(vectors[db])
            step = max(1, MAX_PAIRS // max(1, len(db)))
            for start in range(0, len(queries), step):
                check_alive(alive)
                chunk = queries[start:start + step]
                lims, _, found = index.range_search(vectors[chunk], radius)
                a = np.repeat(chunk, np.diff(lims).astype(np.int64))
                keep = a != db[found]  # every image finds itself
                pending.append((a[keep], db[found][keep]))
                held += int(keep.sum())
                if held >= MAX_PAIRS:  # union what is held, so memory stays bounded
                    label, pending, held = _merge_all(label, pending), [], 0
    finally:
        faiss.omp_set_num_threads(threads)
    return _merge_all(label, pending)


def _merge_all(label: np.ndarray, edges: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    if not edges:
        return label
    return _merge(label, np.concatenate([e[0] for e in edges]),
                  np.concatenate([e[1] for e in edges]))


def _cluster_scans(vectors: np.ndarray, clusters: np.ndarray | None,
                   centroids: np.ndarray | None, nprobe: int
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(positions in a cluster, positions whose probed clusters include it) per cluster."""
    if centroids is None or len(centroids) < 2:
        everything = np.arange(len(vectors))
        yield everything, everything
        return
    centroids = np.ascontiguousarray(centroids, np.float32)
    if clusters is None:
        clusters = route(vectors, make_quantizer(centroids), 1)[:, 0]
    nprobe = max(1, min(nprobe, len(centroids)))
    probe = route(vectors, make_quantizer(centroids), nprobe) if nprobe > 1 else clusters[:, None]
    order = np.argsort(clusters, kind="stable")
    bounds = np.searchsorted(clusters[order], np.arange(len(centroids) + 1))
    pairs = np.argsort(probe.ravel(), kind="stable")
    pair_bounds = np.searchsorted(probe.ravel()[pairs], np.arange(len(centroids) + 1))
    for c in range(len(centroids)):
        db = order[bounds[c]:bounds[c + 1]]
        queries = pairs[pair_bounds[c]:pair_bounds[c + 1]] // probe.shape[1]
        if len(db) and len(queries):
            yield db, np.sort(queries)


def _merge(label: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """label with the components of a[i] and b[i] joined: union-find over component names,
    touching only the components these edges name."""
    la, lb = label[a], label[b]
    keep = la != lb
    if not keep.any():
        return label
    la, lb = la[keep], lb[keep]
    names, inverse = np.unique(np.concatenate([la, lb]), return_inverse=True)
    m = len(names)
    graph = coo_matrix((np.ones(len(la), np.int8), (inverse[:len(la)], inverse[len(la):])),
                       shape=(m, m)).tocsr()
    _, comp = connected_components(graph, directed=False)
    smallest = np.full(comp.max() + 1, label.size, np.int64)
    np.minimum.at(smallest, comp, names)
    remap = np.arange(label.size, dtype=np.int64)
    remap[names] = smallest[comp]
    return remap[label]


def find_groups(vectors: np.ndarray, threshold: float, *, clusters: np.ndarray | None = None,
                centroids: np.ndarray | None = None, nprobe: int = 1,
                keys: Sequence[Sequence[bytes | None]] | None = None,
                pixels: np.ndarray | None = None, alive: Alive = always) -> list[Group]:
    """Every group of two or more images that are near-duplicates, largest group first.

    Args:
        vectors: (n, d) float32 embeddings.
        threshold: the largest squared L2 distance of a near pair (check_threshold).
        clusters, centroids, nprobe: each vector's cluster and the centroids; a vector's
            pairs are sought in its nprobe nearest clusters (None: one scan of everything).
        keys: content keys (see exact_labels).
        pixels: (n,) each image's width times height, 0 where unknown.
        alive: asked between range searches; once it says no, DeadlineExceeded ends the work.

    The representative is the member with the most pixels; where that is unknown or tied,
    the member nearest the group's mean vector (the most central one), then the first.
    """
    vectors = np.ascontiguousarray(vectors, np.float32)
    if vectors.ndim != 2:
        raise InvalidArgument(f"vectors must be (n, d), got shape {vectors.shape}")
    threshold = check_threshold(threshold, vectors)
    n = len(vectors)
    if n < 2:
        return []
    node, exact = exact_labels(vectors, keys)
    nodes = np.unique(node)
    sub_clusters = None if clusters is None else np.asarray(clusters, np.int64)[nodes]
    label = nodes[near_components(vectors[nodes], threshold, sub_clusters, centroids, nprobe,
                                  alive)]
    component = label[np.searchsorted(nodes, node)]
    pixels = np.zeros(n, np.int64) if pixels is None else np.asarray(pixels, np.int64)
    order = np.argsort(component, kind="stable")
    cuts = np.flatnonzero(np.diff(component[order])) + 1
    groups = [_group(part, vectors, exact, pixels) for part in np.split(order, cuts)
              if len(part) > 1]
    groups.sort(key=lambda g: (-len(g.members), g.representative))
    return groups


def _group(members: np.ndarray, vectors: np.ndarray, exact: np.ndarray,
           pixels: np.ndarray) -> Group:
    own = vectors[members]
    centrality = np.einsum("ij,ij->i", own - own.mean(0), own - own.mean(0))
    # lexsort: the last key sorts first; most pixels, then most central, then position
    rep = members[np.lexsort((members, centrality, -pixels[members]))[0]]
    diff = own - vectors[rep]
    distances = np.einsum("ij,ij->i", diff, diff).astype(np.float32)
    distances[exact[members] == exact[rep]] = 0.0
    order = np.lexsort((members, distances, members != rep))
    members, distances = members[order], distances[order]
    return Group(members, distances, exact[members] == exact[rep])


def with_exact(group: Group, keys: Sequence[Sequence[bytes | None]]) -> Group:
    """The group with its exact flags (and their zero distances) taken from content keys
    learnt after the search: a member is exact when it shares a key of any kind with the
    representative."""
    rep = group.representative
    exact = np.array([any(kind[i] is not None and kind[i] == kind[rep] for kind in keys)
                      for i in group.members.tolist()], bool)
    exact[0] = True
    return Group(group.members, np.where(exact, 0, group.distances).astype(np.float32), exact)
