"""A real `lookalike serve --processes N` subprocess for tests, its log read as it comes.

Which worker answered a call is read from the call log: each worker's lines name it
(`[worker 1 pid 123]: call method=... code=...`), and a worker writes a call's line before
its answer is sent, so a test that makes one call at a time can tell where each one went.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import grpc

from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc

CALL = re.compile(r"\[worker (\d+) pid (\d+)\]: call method=(\S+) code=(\S+)")
STARTED = re.compile(r"worker (\d+) started \(pid (\d+)\)")
T = TypeVar("T")
METRICS = re.compile(r"metrics of every worker on http://[^:]+:(\d+)/metrics")


def serve_command(collection: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "lookalike.app.cli", "serve", str(collection), *flags]


class Group:
    """`lookalike serve FOLDER --port 0 --processes N FLAGS...`, started and ready."""

    def __init__(self, folder: Path, *flags: str, processes: int = 2,
                 environ: dict[str, str] | None = None) -> None:
        self.folder = folder
        command = serve_command(folder, "--port", "0", "--processes", str(processes), *flags)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, **(environ or {})})
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        first = self.process.stdout.readline() if self.process.stdout else ""
        if "serving on" not in first:
            self.process.wait(timeout=120)
            self._reader.join(timeout=10)
            raise AssertionError(f"the group did not start: {first!r}\n{self.log()}")
        self.target = first.strip().rsplit(" ", 1)[-1]

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def log(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str] | str, start: int = 0,
                 seconds: float = 120) -> re.Match[str]:
        """The first line from lines[start:] on that matches pattern, waiting for it."""
        pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + seconds
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    if found := pattern.search(line):
                        return found
                left = deadline - time.monotonic()
                assert left > 0, f"no line matching {pattern.pattern!r}:\n{''.join(self.lines)}"
                self._changed.wait(left)

    def calls(self, start: int = 0) -> list[tuple[int, str, str]]:
        """(worker, method, code) of each call logged from lines[start:] on."""
        with self._changed:
            found = [CALL.search(line) for line in self.lines[start:]]
        return [(int(m[1]), m[3], m[4]) for m in found if m]

    def answered_by(self, call: Callable[[], object], rpcs: int = 1) -> set[int]:
        """The workers that logged the `rpcs` calls that call() makes.

        Every call made before must have ended: a stream's line is written when it ends,
        which can be after the caller read the answers it wanted.
        """
        with self._changed:
            start = len(self.lines)
        call()
        deadline = time.monotonic() + 30
        while len(self.calls(start)) < rpcs:
            assert time.monotonic() < deadline, f"calls not logged:\n{self.log()[-3000:]}"
            time.sleep(0.01)
        self.last_calls = self.calls(start)
        return {worker for worker, _, _ in self.last_calls}

    def pid_of(self, worker: int) -> int:
        """The pid of the worker now in slot `worker` (the latest one started there)."""
        with self._changed:
            found = [STARTED.search(line) for line in self.lines]
        return [int(m[2]) for m in found if m and int(m[1]) == worker][-1]

    def metrics_port(self) -> int:
        return int(self.wait_for(METRICS)[1])

    def stop(self, timeout: float = 120) -> tuple[int, str]:
        """SIGTERM, then (exit code, the whole log)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=10)
        return code, self.log()


def one_per_worker(group: Group, connect: Callable[[], T], probe: Callable[[T], object],
                   workers: int = 2, tries: int = 64) -> dict[int, T]:
    """Connections (channels, SDK clients) until one is on each worker: {worker: connection}.

    The kernel picks a listener per connection (SO_REUSEPORT), so a new connection lands on
    any worker; probe makes one call on it to see which. Connections that land on a worker
    already seen are closed; the caller closes the ones it gets.
    """
    found: dict[int, T] = {}
    for _ in range(tries):
        connection = connect()
        (worker,) = group.answered_by(lambda: probe(connection))  # noqa: B023
        if worker in found:
            connection.close()  # type: ignore[attr-defined]
            continue
        found[worker] = connection
        if len(found) == workers:
            return found
    for connection in found.values():
        connection.close()  # type: ignore[attr-defined]
    raise AssertionError(f"{tries} connections reached only workers {sorted(found)}")


def own_channel(target: str) -> grpc.Channel:
    """A channel with a connection of its own (grpc shares one among a process's channels
    to one target unless told not to)."""
    return grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


def channels_per_worker(group: Group, workers: int = 2) -> dict[int, grpc.Channel]:
    return one_per_worker(
        group, lambda: own_channel(group.target),
        lambda channel: pb_grpc.LookalikeStub(channel).Info(pb.InfoRequest(), timeout=30),
        workers)
