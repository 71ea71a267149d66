"""Typed results the SDK returns (clients/messages.py reads them off the wire)."""

from __future__ import annotations

from dataclasses import dataclass, field

Attributes = dict[str, "str | float"]  # key -> text or a finite number


@dataclass(frozen=True)
class Neighbor:
    id: str
    path: str
    distance: float
    cluster: int
    labels: list[str] = field(default_factory=list)  # sorted
    attributes: Attributes = field(default_factory=dict)
    cluster_name: str = ""  # "" when the cluster is unnamed


@dataclass(frozen=True)
class SearchResult:
    """The query's own cluster and its neighbours, nearest first."""

    cluster: int
    neighbors: list[Neighbor] = field(default_factory=list)
    query: object = None  # what was asked for, as the caller gave it
    cluster_name: str = ""  # the query cluster's name; "" when unnamed


@dataclass(frozen=True)
class Added:
    id: str
    cluster: int


@dataclass(frozen=True)
class DuplicateCalibration:
    """The squared-L2 duplicate thresholds a build calibrated: the best separation of edited
    copies from other images, a strict one (fewer, surer groups) and a loose one."""

    threshold: float
    strict: float
    loose: float


@dataclass(frozen=True)
class DuplicateMember:
    id: str
    path: str
    distance: float  # squared L2 to the representative (0 for it and for exact copies)
    exact: bool  # identical bytes or pixels to the representative (True for it)
    representative: bool  # the group's first member only
    cluster: int


@dataclass(frozen=True)
class DuplicateGroup:
    """One group of near-duplicates: number from 1 (largest first), the representative first."""

    group: int
    members: list[DuplicateMember]
    threshold: float  # the squared-L2 threshold the call used
    groups: int  # how many groups the call sends in all

    @property
    def representative(self) -> DuplicateMember:
        return self.members[0]


@dataclass(frozen=True)
class CollectionInfo:
    model_fingerprint: str
    model_config_json: str
    embedding_dim: int
    input_size: int
    count: int
    clusters: int
    cluster_sizes: list[int]
    default_nprobe: int
    format_version: str
    software_version: str
    imbalance: float
    base_model: str = ""  # the base encoder fine-tuned into this collection's; "" if none
    store: str = ""  # "local", or the Milvus address holding the images; "" from old servers
    cluster_names: dict[int, str] = field(default_factory=dict)  # the named clusters
    label_counts: dict[str, int] = field(default_factory=dict)  # label -> images, most first
    # Duplicates (issue 27): None for a collection built before calibration, or an old server
    duplicate_calibration: DuplicateCalibration | None = None


@dataclass(frozen=True)
class Item:
    """One stored image, as browse and get answer it."""

    id: str
    path: str
    cluster: int
    cluster_name: str = ""
    labels: list[str] = field(default_factory=list)  # sorted
    attributes: Attributes = field(default_factory=dict)
    vector: list[float] | None = None  # only when with_vectors was asked


@dataclass(frozen=True)
class Page:
    """One page of browse: its items in row order, and the token of the next ("" at the end)."""

    items: list[Item]
    next_page_token: str = ""


@dataclass(frozen=True)
class Updated:
    """What an update changed: how many images, and the given ids that were not stored."""

    updated: int
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Edited:
    """What update_many did. applied: the changes were made (False: a dry run, or ids
    missing, and then nothing changed); changed / unchanged: edited images whose labels or
    attributes change / were already so; missing: edited ids not stored; names: cluster
    names that change."""

    applied: bool
    changed: int
    unchanged: int
    missing: list[str] = field(default_factory=list)
    names: int = 0
