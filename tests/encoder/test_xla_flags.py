"""lookalike's XLA flags: set before JAX starts, never over the operator's own, and only
on the jaxlib versions that know them (an unknown flag aborts XLA)."""

from __future__ import annotations

import os
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from lookalike.encoder.xla_flags import (
    YNN_OFF,
    YNN_OFF_FIRST,
    YNN_OFF_LAST,
    add_xla_flags,
    default_xla_flags,
    installed_jaxlib,
    knows_ynn_flag,
)

PROBE = "import os, lookalike.encoder.model; print(os.environ.get('XLA_FLAGS', ''))"
# The probe and then a real computation, which is when XLA parses XLA_FLAGS.
COMPUTE = ("import os, lookalike.encoder.model, jax.numpy as jnp; "
           "print(float(jnp.ones(3).sum())); print(os.environ.get('XLA_FLAGS', ''))")
INSTALLED_FLAGS = list(default_xla_flags(installed_jaxlib()))


def run_probe(xla_flags: str | None, code: str = PROBE) -> str:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    env["JAX_PLATFORMS"] = "cpu"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True, timeout=120).stdout.strip()


def test_importing_the_encoder_sets_the_flags_the_installed_jaxlib_knows():
    assert run_probe(None).split() == INSTALLED_FLAGS


def test_the_installed_jaxlib_starts_and_computes_with_them():
    """XLA aborts on an unknown flag when it starts; this one starts and computes."""
    total, flags = run_probe(None, COMPUTE).splitlines()
    assert float(total) == 3.0
    assert flags.split() == INSTALLED_FLAGS


def test_this_jaxlib_is_one_the_flag_was_checked_on():
    """The pinned environment (jaxlib 0.10.x) is inside the checked range; if a new pin
    leaves it, this says so instead of the flag silently disappearing."""
    assert knows_ynn_flag(installed_jaxlib()), installed_jaxlib()


def test_an_operator_flag_of_the_same_name_wins_and_others_are_kept():
    name = YNN_OFF.split("=")[0]
    assert run_probe(f"{name}=dot --xla_dump_to=/tmp/x").split() == [
        f"{name}=dot", "--xla_dump_to=/tmp/x"]
    assert run_probe("--xla_dump_to=/tmp/x").split() == ["--xla_dump_to=/tmp/x",
                                                         *INSTALLED_FLAGS]


def test_add_appends_only_missing_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--a=1")
    add_xla_flags("--a=2", "--b=3", "c=4")
    assert os.environ["XLA_FLAGS"] == "--a=1 --b=3 c=4"


def test_the_checked_versions():
    # 0.8.0 aborts on the flag (checked by running it); 0.8.1 and later take it.
    for version in ("0.4.30", "0.5.3", "0.7.2", "0.8.0", "0.8.1rc1", "0.8.1.dev20251020",
                    "0.11.3", "0.12.0", "1.0.0", "", None, "not a version", "0.10.x"):
        assert default_xla_flags(version) == (), version
    for version in ("0.8.1", "0.9.0.1", "0.10.2", "0.10.2.post1", "0.11.2", "0.10.2+cuda12",
                    "0.10"):
        assert default_xla_flags(version) == (YNN_OFF,), version


releases = st.tuples(st.integers(0, 3), st.integers(0, 20), st.integers(0, 12))


@given(release=releases, extra=st.sampled_from(["", ".1", ".post2", "+local"]))
def test_final_releases_inside_the_checked_range_and_only_those(release, extra):
    version = ".".join(map(str, release)) + extra
    assert knows_ynn_flag(version) == (YNN_OFF_FIRST <= release <= YNN_OFF_LAST)


@given(release=releases, tag=st.sampled_from(["rc1", "a1", "b2", ".dev20251020"]))
def test_no_pre_release_or_nightly_is_trusted(release, tag):
    assert not knows_ynn_flag(".".join(map(str, release)) + tag)


@given(st.text(max_size=40))
def test_any_text_gives_an_answer_never_an_exception(text):
    assert default_xla_flags(text) in ((), (YNN_OFF,))
