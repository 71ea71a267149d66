"""The house's import order: each room imports only from the rooms before it (GUIDE.md §1).

Read from the source (every import, deferred ones included), not from what happens to be
loaded, so a lazy import inside a function counts like any other.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Earlier rooms never import later ones. present/ sits before clients/ so that Client.plot
# may draw with it; the SDK's own types stay out of present/.
# ui/ (the web app) is a client of the gRPC API: it sits right after clients/.
ORDER = ["common", "proto", "encoder", "indexer", "present", "clients", "ui", "pipeline",
         "server", "app"]
# Rooms inside a room: one may import its parent room, never a sibling; the parent imports
# them only where it picks one (named here).
SUBROOMS = {
    "indexer.local": "indexer",
    "indexer.milvus": "indexer",
    "server.group": "server",
}
PICKERS = {"indexer/opener.py"}  # opens a folder as the store its manifest names


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, m) for line, m in found if m.startswith("lookalike.")]


def room_of(module: str) -> str:
    """lookalike.indexer.local.store -> indexer.local; lookalike.server.engine -> server."""
    parts = module.split(".")[1:]
    two = ".".join(parts[:2])
    return two if two in SUBROOMS else parts[0]


def package_files() -> list[tuple[str, Path]]:
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    files = []
    for package, folder in dirs.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            files.append((room_of(package), path))
    return files


def test_every_room_is_in_the_order():
    rooms = {room for room, _ in package_files()}
    assert rooms == set(ORDER) | set(SUBROOMS)


def test_no_room_imports_a_later_room():
    wrong = []
    for room, path in package_files():
        top = room.split(".")[0]
        for line, module in imports(path):
            target = room_of(module)
            target_top = target.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if ORDER.index(target_top) > ORDER.index(top):
                wrong.append(where)
            elif target_top == top and target != room:
                if target in SUBROOMS and room in SUBROOMS:
                    wrong.append(where + " (a sibling room)")
                elif target in SUBROOMS and str(path.relative_to(ROOT)) not in PICKERS:
                    wrong.append(where + " (a room inside this one)")
    assert not wrong, "imports against the house's order:\n" + "\n".join(wrong)


@pytest.mark.parametrize("folder", ["benchmarks"])
def test_benchmarks_never_import_the_tests(folder):
    wrong = [f"{p.relative_to(ROOT)}:{line}" for p in sorted((ROOT / folder).rglob("*.py"))
             for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, (ast.Import, ast.ImportFrom))
             for line in [node.lineno]
             if any(name.split(".")[0] == "tests" for name in (
                 [a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""]))]
    assert not wrong, wrong


def module_path(module: str) -> Path | None:
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        if (package := ".".join(parts[:n])) in dirs:
            base = ROOT / dirs[package] / "/".join(parts[n:])
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
    return None


def top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def test_every_name_is_imported_from_the_module_that_defines_it():
    """No re-exports left behind by a split: a package's __init__ is its only front door."""
    wrong = []
    for _, path in package_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                    and node.module.startswith("lookalike.")
                    and not node.module.startswith("lookalike.proto")):
                continue
            source = module_path(node.module)
            assert source is not None, f"{path}: no module {node.module}"
            if source.name == "__init__.py":
                continue
            defined = top_level_names(source)
            wrong += [f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{a.name}"
                      for a in node.names if a.name not in defined
                      and module_path(f"{node.module}.{a.name}") is None]
    assert not wrong, "imported from a module that only passes them on:\n" + "\n".join(wrong)
