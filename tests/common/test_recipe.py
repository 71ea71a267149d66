"""The default recipe has one source: every config default is read from common/recipe.py."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from lookalike.common import recipe
from lookalike.encoder.augment import AugmentConfig
from lookalike.encoder.model import ModelConfig
from lookalike.encoder.train import TrainConfig
from lookalike.indexer.recluster import ReclusterConfig
from lookalike.pipeline.build import BuildConfig

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [ModelConfig, AugmentConfig, TrainConfig, BuildConfig, ReclusterConfig]
# Defaults that are not part of the recipe: "unset" markers, where the data lives, and how
# many processes run it. Each of these says "ask something else", never a tuned number.
NOT_RECIPE = {
    "ModelConfig": {"channels", "whiten_dim"},  # RGB; 0: the model itself is not whitened
    "TrainConfig": {"epochs", "seed"},  # None: auto (recipe.AUTO_EPOCHS)
    "BuildConfig": {"clusters", "seed", "from_scratch", "store", "milvus_token", "ray",
                    "workers"},
    "ReclusterConfig": {"clusters", "seed"},
}


def recipe_names() -> set[str]:
    return {n for n in vars(recipe) if re.fullmatch(r"[A-Z][A-Z0-9_]*", n)}


def default_expressions(cls: type) -> dict[str, ast.expr]:
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    return {n.target.id: n.value for n in body
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.value}


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_default_is_read_from_the_recipe(cls):
    """Not a copy of its value: the class's source names the recipe's constant."""
    skip = NOT_RECIPE.get(cls.__name__, set())
    fields = {f.name: f for f in dataclasses.fields(cls)}
    wrong = []
    for name, expr in default_expressions(cls).items():
        if name in skip or fields[name].default is dataclasses.MISSING:  # a default_factory
            continue
        if not (isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name)
                and expr.value.id == "recipe"):
            wrong.append(f"{name} = {ast.unparse(expr)}")
            continue
        assert fields[name].default == getattr(recipe, expr.attr)
    assert not wrong, (f"{cls.__name__} defaults not taken from common/recipe.py (add them "
                       f"there, with a reason and a figure): {wrong}")


def test_nested_configs_default_to_their_own_defaults():
    assert BuildConfig().model_config == ModelConfig()
    assert BuildConfig().train_config == TrainConfig()
    assert TrainConfig().augment == AugmentConfig()


def test_every_recipe_value_is_used_and_explained():
    """No orphan numbers, and each has a comment (on its line or the lines above)."""
    sources = "\n".join(p.read_text() for folder in ("encoder", "indexer", "pipeline")
                        for p in (ROOT / folder).rglob("*.py"))
    unused = sorted(n for n in recipe_names() if f"recipe.{n}" not in sources)
    assert not unused, unused
    lines = (ROOT / "common" / "recipe.py").read_text().splitlines()
    bare = [line for i, line in enumerate(lines)
            if re.match(r"[A-Z][A-Z0-9_]* = ", line) and "#" not in line
            and not lines[i - 1].startswith("#")
            and not re.match(r"[A-Z][A-Z0-9_]* = ", lines[i - 1])]  # a group under one comment
    assert not bare, bare


def test_the_recipe_imports_nothing():
    """So every room can read it without breaking the import order (tests/test_layout.py)."""
    tree = ast.parse((ROOT / "common" / "recipe.py").read_text())
    imported = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import,
                                                                         ast.ImportFrom))]
    assert imported == ["from __future__ import annotations"]
