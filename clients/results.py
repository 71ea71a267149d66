"""Typed results the SDK returns (clients/messages.py reads them off the wire)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Neighbor:
    id: str
    path: str
    distance: float
    cluster: int


@dataclass(frozen=True)
class SearchResult:
    """The query's own cluster and its neighbours, nearest first."""

    cluster: int
    neighbors: list[Neighbor] = field(default_factory=list)
    query: object = None  # what was asked for, as the caller gave it


@dataclass(frozen=True)
class Added:
    id: str
    cluster: int


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
