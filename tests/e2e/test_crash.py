"""kill -9 during a stream of adds: every acknowledged image survives, nothing else appears.

Two killers: the real `lookalike serve` (a few times: each restart loads the model) and a
lighter process that opens the Collection and adds through the same Collection.add (20
times). An id sent but not yet acknowledged may or may not be stored: the commit can land
just before the kill, with the ack still unsent. Nothing else may differ.
"""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from benchmarks.testbed import DIM, blob_vectors, make_collection, save_model
from lookalike.indexer.local.collection import Collection
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc

SERVER_KILLS = 4
LIGHT_KILLS = 20

ADDER = """
import sys
import numpy as np
from lookalike.indexer.local.collection import Collection
c = Collection.open(sys.argv[1])
rng = np.random.default_rng(int(sys.argv[2]))
for n in range(int(sys.argv[2]), int(sys.argv[2]) + 10_000):
    c.add(rng.normal(size=(1, c.dim)).astype(np.float32), [f"/light/{n}.png"], [f"L{n}"])
    print(f"L{n}", flush=True)  # printed only once add() returned: acknowledged
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash")
    save_model(root / "model")
    make_collection(root / "collection", root / "model", blob_vectors(n=300), k=4).close()
    return root / "collection"


def check(folder: Path, acked: set[str], sent: set[str], in_flight_max: int,
          prefix: str) -> None:
    """The durable state after kills, as the next process to open the folder sees it.

    sent holds every id ever sent; at most in_flight_max stored ids lack an ack.
    """
    with Collection.open(folder) as c:
        ids = [r.id for r in c.store.rows()]
        assert len(ids) == len(set(ids)), "a duplicate id"
        stored = set(ids)
        assert acked <= stored, f"acknowledged but lost: {sorted(acked - stored)[:5]}"
        extra = {i for i in stored - acked if i.startswith(prefix)}  # this test's adds only
        assert extra <= sent, f"stored but never sent: {sorted(extra - sent)[:5]}"
        assert len(extra) <= in_flight_max
        assert len(c) == c.store.count(), "vector count differs from metadata count"


def test_kill_light_adder_at_random_moments(folder: Path) -> None:
    rng = np.random.default_rng(1)
    acked: set[str] = set()
    sent: set[str] = set()
    start = 0
    for kill in range(LIGHT_KILLS):
        proc = subprocess.Popen([sys.executable, "-c", ADDER, str(folder), str(start)],
                                stdout=subprocess.PIPE, text=True)
        wanted = int(rng.integers(1, 40))
        got = []
        deadline = time.monotonic() + 60
        while len(got) < wanted and time.monotonic() < deadline:
            got.append(proc.stdout.readline().strip())
        time.sleep(float(rng.uniform(0, 0.01)))  # land anywhere in the next add
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        got += [line.strip() for line in proc.stdout.read().splitlines()]  # flushed before kill
        acked |= {g for g in got if g}
        assert len(got) >= wanted
        # Only the add after the last printed one can be in flight.
        sent |= {f"L{n}" for n in range(start, start + len(got) + 1)}
        check(folder, acked, sent, in_flight_max=kill + 1, prefix="L")
        start += 10_000


def png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def start_server(folder: Path, cache: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "LOOKALIKE_JAX_CACHE": str(cache)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lookalike.app.cli", "serve", str(folder), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    line = proc.stdout.readline() if ready else ""
    if "serving on" not in line:
        proc.kill()
        pytest.fail(f"the server did not start: {line!r}")
    return proc, line.strip().rsplit(" ", 1)[-1]


def stream_adds(target: str, first: int, sent: set[str], acked: set[str],
                stop: threading.Event) -> None:
    """Streams adds with explicit ids, recording each id as sent and then as acknowledged."""
    images = [png(s) for s in range(8)]

    def requests():
        for n in range(first, first + 100_000):
            if stop.is_set():
                return
            sent.add(f"S{n}")
            yield pb.AddRequest(tag=str(n), image=images[n % 8], path=f"/s/{n}.png", id=f"S{n}")

    with grpc.insecure_channel(target) as channel:
        try:
            for answer in pb_grpc.LookalikeStub(channel).Add(requests(), timeout=60):
                assert not answer.HasField("error"), answer.error
                acked.add(answer.id)
        except grpc.RpcError:
            pass  # the kill


def test_kill_real_server_during_adds(folder: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    acked: set[str] = set()
    sent: set[str] = set()
    for round_ in range(SERVER_KILLS):
        proc, target = start_server(folder, tmp_path / "jax-cache")
        got: set[str] = set()
        stop = threading.Event()
        streamer = threading.Thread(target=stream_adds,
                                    args=(target, round_ * 100_000, sent, got, stop))
        streamer.start()
        deadline = time.monotonic() + 60
        wanted = int(rng.integers(1, 30))
        while len(got) < wanted and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0, 0.05)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        streamer.join(30)
        assert len(got) >= wanted, "the server acknowledged too few adds before the kill"
        acked |= got
        check(folder, acked, sent, in_flight_max=len(sent - acked), prefix="S")
    with Collection.open(folder) as c:
        assert c.dim == DIM and {f"S{n}" for n in range(3)} <= {r.id for r in c.store.rows()}
