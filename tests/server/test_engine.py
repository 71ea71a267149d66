"""The Engine needs nothing from its collection beyond the CollectionLike protocol."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from lookalike.encoder import checkpoint
from lookalike.encoder.embed import Embedder
from lookalike.indexer.interface import CollectionLike
from lookalike.indexer.local.collection import Collection
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.server.config import ServerConfig
from lookalike.server.engine import Engine

from .conftest import encode, photo


class OnlyTheProtocol:
    """Forwards the protocol's methods to a real collection, and has nothing else."""

    def __init__(self, inner: Collection) -> None:
        for name, value in vars(CollectionLike).items():
            if not name.startswith("_") and inspect.isfunction(value):
                setattr(self, name, getattr(inner, name))
        for name in CollectionLike.__annotations__:  # its attributes (the folder)
            setattr(self, name, getattr(inner, name))


@pytest.fixture
def engine(collection_copy):
    collection = Collection.open(collection_copy)
    try:
        yield Engine(OnlyTheProtocol(collection), Embedder(checkpoint.load(collection.model_dir)),
                     ServerConfig())
    finally:
        collection.close()


def test_every_call_works_through_the_protocol_alone(engine):
    assert isinstance(engine.collection, CollectionLike)
    image = encode(photo(seed=3), "PNG")
    by_image = engine.search(pb.SearchRequest(image=image, k=3))
    assert len(by_image.neighbors) == 3 and by_image.cluster >= 0
    by_id = engine.search(pb.SearchRequest(id="5", k=4))
    assert len(by_id.neighbors) == 4 and "5" not in {n.id for n in by_id.neighbors}
    vector = engine.collection.lookup("5")[1]
    by_vector = engine.search(pb.SearchRequest(vector=pb.Vector(values=vector.tolist()), k=1))
    assert by_vector.neighbors[0].id == "5"
    added = engine.add(pb.AddRequest(image=image, path="/p.png", id="p"))
    assert added.id == "p"
    assert engine.search(pb.SearchRequest(image=image, k=1)).neighbors[0].id == "p"
    assert engine.delete(pb.DeleteRequest(ids=["p", "nope"])).missing == ["nope"]
    assert "p" not in {n.id for n in engine.search(pb.SearchRequest(image=image, k=48)).neighbors}
    info = engine.info()
    assert info.count == 48 and info.embedding_dim == len(vector)
    assert info.imbalance >= 1.0 and np.isfinite(info.imbalance)
