"""Present fixtures: images drawn on transparency (the tiny model folder comes from tests/conftest.py)."""

from tests.common.test_imaging import transparent_file  # noqa: F401
