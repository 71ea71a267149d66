"""The `lookalike` command's tests run against the same servers as the SDK's and the indexer's."""

from pathlib import Path

import pytest

from tests.clients.conftest import server_process, shared_target  # noqa: F401
from tests.indexer.conftest import session_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The indexer's tiny model folder: commands given --model skip training."""
    return session_model(tmp_path_factory)
