"""The `lookalike` command's tests run against the same servers as the SDK's and the indexer's."""

from tests.clients.conftest import server_process, shared_target  # noqa: F401
