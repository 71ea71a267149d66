"""Every repository path and module that README.md, BENCHMARKS.md and docs/ name exists."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "BENCHMARKS.md"] + sorted(
    p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")
)

# Named in the docs with a slash, but not files of this repository: what a command writes,
# what a user passes, a gRPC method, an address range. Add to it only what is clearly not a
# repository path; a path that moved is fixed in the docs instead.
NOT_REPO_PATHS = {
    "photos/cat.jpg",  # a user's images in a manifest example
    "photos/dog.png",
    "demo-output/query_N.png",  # written by `lookalike demo`
    "demo-output/collection",
    "demo-output/mnist/*.png",
    "sheet_files/",  # written beside a contact sheet
    "Health/Check",  # gRPC methods
    "Health/Watch",
    "grpc.health.v1.Health/Check",
    "lookalike.v1.Lookalike/Search",
    "10.20.0.0/16",  # an address range
    "sqrt(n)/4",  # a formula
}
# Folders that are not in a checkout: placeholders and what `make install` or a benchmark makes.
NOT_REPO_PREFIXES = ("DIR/", ".venv/", ".devdata/", "OUT/")
# Dotted names under lookalike. that are not Python modules: the proto package and its service.
NOT_MODULES = {"lookalike.v1", "lookalike.v1.Lookalike"}
# A bare file name (no folder) is checked when it names one of these kinds of file;
# other bare names (results.jsonl, model.json, sizes.png) are what commands write.
CHECKED_BARE_SUFFIXES = (".md", ".py", ".toml", ".proto", ".sh")

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`((?:[^`\n]|\n(?!\n))+)`")  # may wrap a line, not a paragraph
LINK = re.compile(r"\]\(([^)\s]+)\)")
PATHLIKE = re.compile(r"[\w.\-/]+")
DOTTED = re.compile(r"lookalike(\.\w+)+")


def package_dirs() -> dict[str, str]:
    """pyproject's package-dir: 'lookalike.encoder' -> 'encoder'."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["setuptools"]["package-dir"]


def code_tokens(text: str) -> list[str]:
    """Whitespace-separated words of every code span and fenced block, punctuation trimmed."""
    blocks = [block.split("\n", 1)[1].rsplit("\n", 1)[0] for block in FENCE.findall(text)]
    spans = CODE_SPAN.findall(FENCE.sub("", text))
    words = [word for chunk in blocks + spans for word in chunk.split()]
    tokens = [word.strip("\"'(),;:`").rstrip(".").removesuffix("()") for word in words]
    return [token for token in tokens if token]


def top_level_names(module: Path) -> set[str]:
    """Names a module defines or imports at its top level."""
    names: set[str] = set()
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def module_problem(name: str) -> str | None:
    """Why a dotted lookalike.x.y[.attr] name does not resolve in the checkout, or None."""
    dirs = package_dirs()
    parts = name.split(".")
    for cut in range(len(parts), 1, -1):
        if ".".join(parts[:cut]) in dirs:
            folder, rest = ROOT / dirs[".".join(parts[:cut])], parts[cut:]
            break
    else:
        return "no package of that name in pyproject's package-dir"
    while rest and (folder / rest[0] / "__init__.py").exists():
        folder, rest = folder / rest[0], rest[1:]
    if not rest:
        return None
    module = folder / f"{rest[0]}.py"
    if not module.exists():
        return f"no module {module.relative_to(ROOT)}"
    if len(rest) > 1 and rest[1] not in top_level_names(module):
        return f"{module.relative_to(ROOT)} defines no {rest[1]}"
    return None


def path_problem(token: str) -> str | None:
    """Why a token of a code span names a repository path that is not there, or None."""
    path, _, test = token.partition("::")
    if path.startswith("lookalike/"):
        return f"not a checkout path: the checkout has {path.removeprefix('lookalike/')}"
    if not (ROOT / path).exists():
        return "missing"
    if test and not re.search(
        rf"^(async )?def {re.escape(test)}\(", (ROOT / path).read_text(), re.MULTILINE
    ):
        return f"{path} has no test {test}"
    return None


def is_checked_path(token: str) -> bool:
    """Whether a code token names a path in this repository (and must therefore exist)."""
    if not PATHLIKE.fullmatch(token.partition("::")[0]) or token in NOT_REPO_PATHS:
        return False
    if token.startswith(NOT_REPO_PREFIXES) or token.startswith("/") or token[0].isdigit():
        return False  # a placeholder, an absolute path, a count such as 3/3
    if token.endswith("/s"):
        return False  # a rate: rows/s, 24.01img/s
    if "/" in token:
        return True
    return token.endswith(CHECKED_BARE_SUFFIXES) and "::" not in token


def bare_name_exists(name: str) -> bool:
    """A bare file name (README.md, test_chaos.py) names a file somewhere in the checkout."""
    return (ROOT / name).exists() or any(".venv" not in p.parts for p in ROOT.glob(f"**/{name}"))


def broken_names(doc: str) -> list[str]:
    """Every repository path, module and link target in one document that does not resolve."""
    text = (ROOT / doc).read_text()
    broken = []
    for token in code_tokens(text):
        if DOTTED.fullmatch(token) and token not in NOT_MODULES:
            problem = module_problem(token)
        elif not is_checked_path(token):
            continue
        elif "/" in token or "::" in token:
            problem = path_problem(token)
        else:
            problem = None if bare_name_exists(token) else "missing"
        if problem:
            broken.append(f"`{token}`: {problem}")
    for target in LINK.findall(text):
        target = target.partition("#")[0]
        if target and "://" not in target and not (ROOT / doc).parent.joinpath(target).exists():
            broken.append(f"link ({target}): missing")
    return broken


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_a_document_names_exists(doc: str) -> None:
    assert broken_names(doc) == []


def test_the_check_catches_what_it_is_for(tmp_path: Path) -> None:
    assert path_problem("lookalike/encoder/xla_flags.py") is not None
    assert path_problem("encoder/xla_flags.py") is None
    assert path_problem("docs/no_such_picture.png") == "missing"
    assert path_problem("tests/test_docs.py::test_the_check_catches_what_it_is_for") is None
    assert path_problem("tests/test_docs.py::test_no_such_test") is not None
    assert module_problem("lookalike.common.paths.local_path") is None
    assert module_problem("lookalike.encoder.no_such_module") is not None
    assert module_problem("lookalike.common.paths.no_such_function") is not None
    assert code_tokens(
        "see `encoder/base/` and `a\nb/c.py`\n```\npython benchmarks/x.py --out r.json\n```\n"
    ) == ["python", "benchmarks/x.py", "--out", "r.json", "encoder/base/", "a", "b/c.py"]
    assert not is_checked_path("demo-output/query_N.png")
    assert not is_checked_path("results.jsonl")
    assert is_checked_path("benchmarks/x.py") and is_checked_path("BENCHMARKS.md")
    doc = tmp_path / "page.md"
    doc.write_text("![a picture](docs/missing.png) and [a page](https://example.com/x.md)\n")
    assert LINK.findall(doc.read_text()) == ["docs/missing.png", "https://example.com/x.md"]
