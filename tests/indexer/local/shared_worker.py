"""A process that opens a collection shared and runs the calls a test sends it over a pipe."""

from __future__ import annotations

import multiprocessing as mp
import os
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

SPAWN = mp.get_context("spawn")  # a fresh interpreter, as a server group's worker is


def _run(folder: str, conn: Connection) -> None:
    from lookalike.indexer.local.collection import Collection
    from lookalike.indexer.local.recluster import recluster
    from lookalike.indexer.recluster import ReclusterConfig

    collection = Collection.open(folder, shared=True)
    conn.send(("ready", os.getpid()))
    while True:
        name, args = conn.recv()
        try:
            if name == "stop":
                collection.close()
                conn.send(("ok", None))
                return
            if name == "search":
                hits = collection.search(*args)
                got = (hits.distances, hits.rowids, {r: row.id for r, row in hits.rows.items()})
            elif name == "recluster":
                got = recluster(collection, ReclusterConfig(clusters=args[0])).clusters_after
            elif name == "add_loop":  # adds one row at a time, reporting each acknowledged id
                for i, vector in enumerate(args[0]):
                    collection.add(vector[None], [f"/loop/{i}.png"], [f"loop-{i}"])
                    conn.send(("acked", f"loop-{i}"))
                got = None
            elif name == "window":
                collection.store.change_window = args[0]
                got = None
            elif name == "mapped":
                got = collection._clusters.mapped_rows()
            elif name == "len":
                got = len(collection)
            else:
                got = getattr(collection, name)(*args)
            conn.send(("ok", got))
        except Exception as exc:  # the test asserts on it
            conn.send(("error", exc))


class Worker:
    """One shared-open process; call() runs a Collection method there and returns its result."""

    def __init__(self, folder: Path) -> None:
        self.conn, theirs = SPAWN.Pipe()
        self.process = SPAWN.Process(target=_run, args=(str(folder), theirs), daemon=True)
        self.process.start()
        theirs.close()
        kind, self.pid = self._receive(120)
        assert kind == "ready", self.pid

    def send(self, name: str, *args: object) -> None:
        self.conn.send((name, args))

    def _receive(self, timeout: float = 60) -> tuple:
        if not self.conn.poll(timeout):
            raise TimeoutError(f"worker {self.process.pid} did not answer")
        return self.conn.recv()

    def result(self, timeout: float = 60) -> object:
        kind, got = self._receive(timeout)
        if kind == "error":
            raise got
        assert kind == "ok", (kind, got)
        return got

    def call(self, name: str, *args: object) -> object:
        self.send(name, *args)
        return self.result()

    def top_ids(self, queries: np.ndarray, k: int = 1) -> list[list[str]]:
        """The ids of each query's k nearest rows, scanning every cluster."""
        _, rowids, ids = self.call("search", queries, k, 1 << 16)
        return [[ids[r] for r in row if r >= 0] for row in rowids.tolist()]

    def close(self) -> None:
        if self.process.is_alive():
            try:
                self.call("stop")
            except (OSError, EOFError, TimeoutError):
                pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()
