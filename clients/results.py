"""Typed results the SDK returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from lookalike.proto.v1 import lookalike_pb2 as pb


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

    @classmethod
    def from_proto(cls, response: pb.SearchResponse, query: object = None) -> SearchResult:
        return cls(
            cluster=response.cluster,
            neighbors=[Neighbor(n.id, n.path, n.distance, n.cluster) for n in response.neighbors],
            query=query,
        )


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

    @classmethod
    def from_proto(cls, r: pb.InfoResponse) -> CollectionInfo:
        return cls(r.model_fingerprint, r.model_config_json, r.embedding_dim, r.input_size,
                   r.count, r.clusters, list(r.cluster_sizes), r.default_nprobe,
                   r.format_version, r.software_version, r.imbalance, r.base_model,
                   r.store)
