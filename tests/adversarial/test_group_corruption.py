"""Corruption under the server group: `serve --processes 2` reports every damaged collection
exactly as a lone server does (one clear line, exit 1), never with a traceback.

A lone server reports what Collection.open raises; the group meets the damage elsewhere
first (the parent's snapshot writer, a worker's shared open), so each kind of damage in
damage.py is checked through a real group. Random bit flips in the database: the group
serves exactly when a lone open accepts the folder, and otherwise says what it says.
"""

from __future__ import annotations

import queue
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lookalike.common.errors import LookalikeError
from lookalike.indexer.local.collection import Collection
from tests.adversarial.damage import DATABASE, KINDS, checkpoint, flip_in_file
from tests.server.group.running import serve_command

START_S = 240  # a group that serves has compiled the encoder in two processes on 2 cores


class Outcome:
    """How `lookalike serve FOLDER --processes N` ended: served (then stopped by SIGTERM) or
    exited on its own, with its exit code and stderr."""

    def __init__(self, folder: Path, processes: int = 2) -> None:
        process = subprocess.Popen(serve_command(folder, "--port", "0", "--processes",
                                                 str(processes)),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first: queue.Queue[str] = queue.Queue()
        errors: list[str] = []
        readers = [threading.Thread(target=lambda: first.put(process.stdout.readline())),
                   threading.Thread(target=lambda: errors.extend(process.stderr))]
        for reader in readers:
            reader.start()
        try:
            self.served = "serving on" in first.get(timeout=START_S)  # "" once it exits
            if self.served:
                process.send_signal(signal.SIGTERM)
            self.code = process.wait(timeout=START_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for reader in readers:
                reader.join(timeout=30)
        self.stderr = "".join(errors)
        self.last_line = errors[-1].rstrip("\n") if errors else ""


def lone_open(folder: Path) -> str | None:
    """What a lone server reports for the folder (its open's error), or None if it opens."""
    try:
        Collection.open(folder).close()
    except LookalikeError as exc:
        return str(exc)
    return None


def assert_reported_alike(outcome: Outcome, expected: str | None) -> None:
    assert "Traceback" not in outcome.stderr, outcome.stderr[-3000:]
    if expected is None:
        assert outcome.served and outcome.code == 0, outcome.stderr[-3000:]
        return
    assert not outcome.served
    assert outcome.code == 1, outcome.stderr[-3000:]
    assert outcome.last_line == f"lookalike serve: {expected}"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_group_reports_damage_as_a_lone_server_does(collection_copy, tmp_path, kind):
    checkpoint(collection_copy)
    KINDS[kind](collection_copy)
    twin = Path(shutil.copytree(collection_copy, tmp_path / "twin"))  # opened in-process
    expected = lone_open(twin)
    assert expected is not None, f"{kind}: a lone open accepted it"
    assert_reported_alike(Outcome(collection_copy), expected.replace(str(twin),
                                                                     str(collection_copy)))


def test_a_lone_server_says_the_same_as_its_open(collection_copy, tmp_path):
    """The yardstick above: `serve --processes 1` prints what Collection.open raises."""
    KINDS["row vector bit"](collection_copy)
    twin = Path(shutil.copytree(collection_copy, tmp_path / "twin"))
    expected = lone_open(twin).replace(str(twin), str(collection_copy))
    assert "fails its checksum" in expected
    assert_reported_alike(Outcome(collection_copy, processes=1), expected)


FLIPS = settings(max_examples=6, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


@FLIPS
@given(where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_a_random_bit_flip_in_the_database_serves_or_says_why(built_collection, where, bit):
    with tempfile.TemporaryDirectory(prefix="flip-") as tmp:
        folder = Path(shutil.copytree(built_collection, Path(tmp) / "c"))
        checkpoint(folder)
        size = (folder / DATABASE).stat().st_size
        flip_in_file(folder / DATABASE, int(where * size), 1 << bit)
        twin = Path(shutil.copytree(folder, Path(tmp) / "twin"))
        expected = lone_open(twin)
        if expected is not None:
            expected = expected.replace(str(twin), str(folder))
        event("a lone open refuses it" if expected else "a lone open accepts it")
        assert_reported_alike(Outcome(folder), expected)
