"""The pages and scripts ship with the package: every file under ui/static/ is package data."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_static_file_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["lookalike.ui"]
    files = [p.relative_to(ROOT / "ui").as_posix() for p in (ROOT / "ui" / "static").rglob("*")
             if p.is_file()]
    assert files and all(any(fnmatch.fnmatch(f, pat) and f.count("/") == pat.count("/")
                             for pat in patterns) for f in files), files


def test_no_page_loads_anything_from_elsewhere():
    for path in (ROOT / "ui" / "static").iterdir():
        text = path.read_text()
        assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', ""), path
        assert "https://" not in text.replace("https://…", ""), path
