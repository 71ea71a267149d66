"""Pipeline fixtures: the indexer's tiny model folder (builds given a model skip training)."""

from pathlib import Path

import pytest

from tests.indexer.conftest import session_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_model(tmp_path_factory)
