"""Chaos: kill -9 amid adds, deletes and reclusters; a full disk; two processes on one folder.

`make test` runs the short form. The long form, by hand:

    LOOKALIKE_CHAOS_LONG=1 .venv/bin/python -m pytest -q tests/adversarial/test_chaos.py
    .venv/bin/python -m tests.adversarial.test_chaos --long      # the same

tests/e2e/test_crash.py already kills adds alone (a real server and a light process) and
tests/indexer/local/test_recluster.py kills a recluster alone; here one process mixes adds (with
generated, numeric and named ids), deletes and reclusters and is killed anywhere in them.
After every kill: every acknowledged add is there, no acknowledged delete comes back, only
the one operation in flight may go either way, and the indexes match SQLite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.testbed import blob_vectors, make_collection
from lookalike.common.errors import CollectionLocked
from lookalike.indexer.local.collection import Collection
from tests.conftest import session_model
from tests.tmpfs import fill_disk, small_tmpfs

LONG = os.environ.get("LOOKALIKE_CHAOS_LONG") == "1"
KILLS = 40 if LONG else 4
RECLUSTER_EVERY = 25  # operations; a recluster of a few hundred rows takes a fraction of a second

WORKER = """
import os, sys
import numpy as np
from lookalike.common.errors import AlreadyExists, StorageFull
from lookalike.indexer.local.collection import Collection
from lookalike.indexer.local.recluster import recluster
from lookalike.indexer.recluster import ReclusterConfig

folder, seed, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = Collection.open(folder)
rng = np.random.default_rng(seed)
mine = []
def say(*words):  # once the call has returned; one write, so a kill never splits a line
    os.write(1, (" ".join(words) + "\\n").encode())
for n in range(1_000_000):
    tag = f"{seed}-{n}"
    if every and n and n % every == 0:
        say("RECLUSTER")
        recluster(c, ReclusterConfig(clusters=int(rng.integers(2, 7))))
        say("RECLUSTERED")
    elif rng.random() < 0.65 or not mine:
        kind = rng.integers(3)
        given = None if kind == 0 else str(int(rng.integers(1, 3000))) if kind == 1 else f"u{tag}"
        say("ADDING", tag)
        try:
            row = c.add(rng.normal(size=(1, c.dim)).astype(np.float32), [f"/chaos/{tag}"],
                        [given])[0]
        except (AlreadyExists, StorageFull) as exc:
            say("REFUSED", tag, type(exc).__name__)
            continue
        mine.append(row.id)
        say("ADDED", tag, row.id)
    else:
        victim = mine.pop(int(rng.integers(len(mine))))
        say("DELETING", victim)
        try:
            c.delete([victim])
        except StorageFull:
            mine.append(victim)
            say("REFUSED", victim, "StorageFull")
            continue
        say("DELETED", victim)
"""


class Ledger:
    """What the workers acknowledged, replayed in order: id -> path, and what was in flight."""

    def __init__(self, folder: Path) -> None:
        with Collection.open(folder, read_only=True) as c:
            self.expected = {r.id: r.path for r in c.store.rows()}
        self.adding: str | None = None  # the tag of an add sent but not acknowledged
        self.deleting: str | None = None
        self.refused: list[str] = []

    def read(self, line: str) -> None:
        word, *rest = line.split()
        if word == "ADDING":
            self.adding = rest[0]
        elif word == "ADDED":
            assert rest[1] not in self.expected, f"id {rest[1]} given twice"
            self.expected[rest[1]] = f"/chaos/{rest[0]}"
            self.adding = None
        elif word == "DELETING":
            self.deleting = rest[0]
        elif word == "DELETED":
            del self.expected[rest[0]]
            self.deleting = None
        elif word == "REFUSED":
            self.adding = self.deleting = None
            self.refused.append(rest[1])

    def check(self, folder: Path) -> None:
        """The folder as the next process sees it; the in-flight operation is settled."""
        with Collection.open(folder) as c:
            stored = {r.id: r.path for r in c.store.rows()}
            assert len(c) == c.store.count() == len(stored), "indexes differ from SQLite"
            assert c.search(np.zeros((1, c.dim), np.float32), 1).rowids.shape == (1, 1)
        lost = set(self.expected) - set(stored) - {self.deleting}
        assert not lost, f"acknowledged adds lost: {sorted(lost)[:5]}"
        extra = {i: p for i, p in stored.items() if i not in self.expected}
        assert all(p == f"/chaos/{self.adding}" for p in extra.values()), f"resurrected {extra}"
        assert len(extra) <= 1
        assert all(stored[i] == p for i, p in self.expected.items() if i in stored)
        self.expected = stored
        self.adding = self.deleting = None


def run_and_kill(folder: Path, seed: int, ledger: Ledger, rng: np.random.Generator,
                 every: int, until=None) -> None:
    """Starts a worker, reads what it acknowledges, and kill -9s it at a random moment."""
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(folder), str(seed), str(every)],
                            stdout=subprocess.PIPE, text=True)
    wanted = int(rng.integers(5, 60 if LONG else 30))
    done = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line.endswith("\n"):
            break
        ledger.read(line)
        done += line.startswith(("ADDED", "DELETED", "RECLUSTERED", "REFUSED"))
        if (until(ledger) if until else done >= wanted):
            break
    time.sleep(float(rng.uniform(0, 0.02)))  # land anywhere in the next operation
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for line in proc.stdout.read().split("\n")[:-1]:  # written before the kill, whole lines
        ledger.read(line)
    assert proc.returncode == -signal.SIGKILL, "the worker died on its own"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_model(tmp_path_factory)


def test_kill_9_amid_adds_deletes_and_reclusters(tmp_path: Path, model_dir: Path) -> None:
    folder = tmp_path / "c"
    make_collection(folder, model_dir, blob_vectors(n=300), k=4).close()
    ledger = Ledger(folder)
    rng = np.random.default_rng(13)
    for kill in range(KILLS):
        run_and_kill(folder, kill, ledger, rng, RECLUSTER_EVERY)
        ledger.check(folder)


def test_a_full_disk_refuses_writes_and_a_kill_then_loses_nothing(model_dir: Path) -> None:
    with small_tmpfs(12 << 20) as disk:
        make_collection(disk / "c", model_dir, blob_vectors(n=300), k=4).close()
        filler = fill_disk(disk)
        os.truncate(filler, filler.stat().st_size - (192 << 10))  # room for a few hundred adds
        ledger = Ledger(disk / "c")
        rng = np.random.default_rng(5)
        for round_ in range(3 if LONG else 1):
            run_and_kill(disk / "c", 100 + round_, ledger, rng, every=0,
                         until=lambda led: len(led.refused) >= 3)
            assert "StorageFull" in ledger.refused, "the disk never filled"
            ledger.refused.clear()
            filler.unlink()  # the operator frees space; nothing acknowledged may be gone
            ledger.check(disk / "c")
            filler = fill_disk(disk)
            os.truncate(filler, filler.stat().st_size - (64 << 10))


HOLDER = """
import sys, time
from lookalike.indexer.local.collection import Collection
c = Collection.open(sys.argv[1])
print("OPEN", flush=True)
time.sleep(600)
"""


def test_two_processes_on_one_folder(tmp_path: Path, model_dir: Path) -> None:
    """Issue 13, defect 8: a second server on a served folder drifted apart silently."""
    folder = tmp_path / "c"
    make_collection(folder, model_dir, blob_vectors(n=50), k=2).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "OPEN"
        message = f"already open by process {holder.pid}"
        with pytest.raises(CollectionLocked, match=message):
            Collection.open(folder)
        with Collection.open(folder, read_only=True) as reader:  # read-only tools may
            assert len(reader) == 50
        serve = subprocess.run(
            [sys.executable, "-m", "lookalike.app.cli", "serve", str(folder), "--port", "0"],
            capture_output=True, text=True, timeout=120)
        assert serve.returncode == 2
        assert f"lookalike serve: collection {folder} is {message}" in serve.stderr
        assert "Traceback" not in serve.stderr and "serving on" not in serve.stdout
    finally:
        holder.kill()
        holder.wait()
    with Collection.open(folder) as c:  # the kernel dropped the dead holder's lock
        assert len(c) == 50


if __name__ == "__main__":
    if "--long" in sys.argv:
        sys.argv.remove("--long")
        os.environ["LOOKALIKE_CHAOS_LONG"] = "1"
    sys.exit(pytest.main(["-q", __file__, *sys.argv[1:]]))
