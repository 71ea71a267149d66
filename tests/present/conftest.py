"""Present fixtures: images drawn on transparency (the tiny model is tests/conftest.py's)."""

from tests.common.test_imaging import transparent_file  # noqa: F401
