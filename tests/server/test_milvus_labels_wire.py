"""The labelling round trip and its bad-input checks through a real server in Milvus mode:
the wire tests of tests/server/test_labels_wire.py, run on a collection whose images live in
the real Milvus server."""

from __future__ import annotations

import itertools
from pathlib import Path

import grpc
import pytest

from lookalike.encoder import checkpoint
from lookalike.indexer.manifest import MODEL_DIR
from lookalike.pipeline.build import BuildConfig, build_collection
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from tests.server.conftest import running_server
from tests.server.test_labels_wire import (  # noqa: F401  (collected here, on Milvus)
    test_bad_input_is_invalid_argument_naming_the_field,
    test_the_labelling_round_trip,
    test_update_many_is_all_or_nothing_over_the_wire,
)

_names = itertools.count()


@pytest.fixture(scope="module")
def served(tmp_path_factory, image_folder: Path, built_collection: Path, milvus_uri: str):
    out = tmp_path_factory.mktemp("milvus-labels") / "c"
    build_collection(image_folder, out, BuildConfig(
        clusters=4, store=f"milvus://{milvus_uri}/labelwire{next(_names)}"),
        model=checkpoint.load(built_collection / MODEL_DIR))
    with running_server(out) as (_, target):
        channel = grpc.insecure_channel(target)
        yield pb_grpc.LookalikeStub(channel)
        channel.close()
