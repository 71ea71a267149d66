"""The `lookalike` command's tests run against the same servers as the SDK's and the indexer's."""

from tests.clients.conftest import (  # noqa: F401
    label_target,
    milvus_labelled,
    server_process,
    shared_target,
)
