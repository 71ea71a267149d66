"""Query vectors that no search can answer, and embeddings that are not finite (issue 13, #7)."""

from __future__ import annotations

import grpc
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lookalike.common.errors import CollectionError
from lookalike.encoder import checkpoint
from lookalike.encoder.embed import Embedder
from lookalike.indexer.local.collection import Collection
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.server.config import ServerConfig
from lookalike.server.engine import MAX_QUERY_NORM, Engine

from .conftest import encode, photo

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def vector_of(dim: int, first: float, rest: float = 0.5) -> pb.Vector:
    values = np.full(dim, rest, np.float32)
    values[0] = first
    return pb.Vector(values=values.tolist())


@pytest.mark.parametrize(
    ("first", "rest", "words"),
    [
        (float("nan"), 0.5, "NaN or infinite"),
        (float("inf"), 0.5, "NaN or infinite"),
        (float("-inf"), 0.5, "NaN or infinite"),
        (1e30, 0.5, "length is 1e+30"),
        (3e38, 3e38, "length is"),  # each value finite in float32, the length is not
    ],
    ids=["nan", "inf", "-inf", "1e30", "max-float32"],
)
def test_unanswerable_query_vectors_are_invalid_argument(stub, shared_server, first, rest,
                                                         words):
    dim = shared_server[0].engine.collection.dim
    request = pb.SearchRequest(vector=vector_of(dim, first, rest), k=3)
    with pytest.raises(grpc.RpcError) as info:
        stub.Search(request, timeout=20)
    assert info.value.code() == INVALID
    assert words in info.value.details()
    # The same row in a stream is answered with its own error; the stream goes on.
    rows = [pb.SearchStreamRequest(tag="bad", request=request),
            pb.SearchStreamRequest(tag="good", request=pb.SearchRequest(id="1", k=1))]
    bad, good = stub.SearchStream(iter(rows), timeout=20)
    assert bad.error.code == INVALID.value[0] and words in bad.error.message
    assert good.response.neighbors


def test_a_long_but_finite_vector_under_the_bound_is_still_searched(stub, shared_server):
    dim = shared_server[0].engine.collection.dim
    response = stub.Search(pb.SearchRequest(vector=vector_of(dim, MAX_QUERY_NORM / 2), k=3),
                           timeout=20)
    assert response.cluster >= 0 and len(response.neighbors) == 3


@pytest.fixture
def nan_model_engine(collection_copy):
    """A real engine whose model weights are all NaN, as a damaged checkpoint would be."""
    collection = Collection.open(collection_copy)
    saved = checkpoint.load(collection.model_dir)
    params = nnx.state(saved.model.encoder, nnx.Param)
    nnx.update(saved.model.encoder, jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), params))
    engine = Engine(collection, Embedder(saved), ServerConfig())
    try:
        yield engine
    finally:
        collection.close()


def test_a_non_finite_embedding_is_refused_and_never_stored(nan_model_engine):
    engine = nan_model_engine
    image = encode(photo(seed=5), "PNG")
    count = len(engine.collection)
    with pytest.raises(CollectionError, match="non-finite .* embedding"):
        engine.search(pb.SearchRequest(image=image, k=3))
    with pytest.raises(CollectionError, match="nothing was searched or stored"):
        engine.add(pb.AddRequest(image=image, path="/nan", id="nan"))
    assert len(engine.collection) == count
    # Stored vectors stay searchable: an id query needs no encoding.
    assert engine.search(pb.SearchRequest(id="1", k=2)).neighbors
