"""Present fixtures: the indexer's tiny model folder, and images drawn on transparency."""

from tests.common.test_imaging import transparent_file  # noqa: F401
