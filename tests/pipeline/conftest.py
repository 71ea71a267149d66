"""Pipeline fixtures: the indexer's tiny model folder (builds given a model skip training)."""

from tests.indexer.conftest import model_dir  # noqa: F401
