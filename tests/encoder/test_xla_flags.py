"""lookalike's XLA flags: set before JAX starts, and never over the operator's own."""

from __future__ import annotations

import os
import subprocess
import sys

from lookalike.encoder.xla_flags import DEFAULT_XLA_FLAGS, add_xla_flags

PROBE = "import os, lookalike.encoder.model; print(os.environ['XLA_FLAGS'])"


def run_probe(xla_flags: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_importing_the_encoder_sets_the_default_flags():
    assert run_probe(None).split() == list(DEFAULT_XLA_FLAGS)


def test_an_operator_flag_of_the_same_name_wins_and_others_are_kept():
    name = DEFAULT_XLA_FLAGS[0].split("=")[0]
    assert run_probe(f"{name}=dot --xla_dump_to=/tmp/x").split() == [
        f"{name}=dot", "--xla_dump_to=/tmp/x"]
    assert run_probe("--xla_dump_to=/tmp/x").split() == ["--xla_dump_to=/tmp/x",
                                                         *DEFAULT_XLA_FLAGS]


def test_add_appends_only_missing_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--a=1")
    add_xla_flags("--a=2", "--b=3", "c=4")
    assert os.environ["XLA_FLAGS"] == "--a=1 --b=3 c=4"
