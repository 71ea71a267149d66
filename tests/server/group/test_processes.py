"""`lookalike serve --processes 2` as a real subprocess: two workers behind one port.

One group serves most tests (starting one costs two model loads); the SIGTERM test and the
startup failures use their own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import faiss
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from lookalike.clients import Client, RetryPolicy
from lookalike.common.errors import NotFound
from lookalike.indexer.local.collection import Collection
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from tests.server.conftest import encode, photo
from tests.server.group.running import Group, channels_per_worker, one_per_worker, serve_command
from tests.server.test_lifecycle import open_stream
from tests.server.test_observability import sample

SEARCH = "/lookalike.v1.Lookalike/Search"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture(scope="module")
def group(built_collection, tmp_path_factory):
    folder = Path(shutil.copytree(built_collection, tmp_path_factory.mktemp("group") / "c"))
    served = Group(folder, "--metrics-port", "0", "--grace", "20")
    yield served
    code, log = served.stop()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def clients_per_worker(group: Group) -> dict[int, Client]:
    retry = RetryPolicy(attempts=12, initial_backoff_s=0.2, max_backoff_s=2)
    return one_per_worker(group, lambda: Client(group.target, timeout=30, retry=retry),
                          lambda client: client.health())


def test_every_worker_answers_searches_health_and_reflection(group):
    channels = channels_per_worker(group)
    query = pb.SearchRequest(image=encode(photo(seed=5), "JPEG"), k=5)
    try:
        answers = {}
        for worker, channel in channels.items():
            stub = pb_grpc.LookalikeStub(channel)
            search = stub.Search
            assert group.answered_by(
                lambda w=worker, call=search: answers.setdefault(w, call(query, timeout=30))
            ) == {worker}, group.last_calls
            health = health_pb2_grpc.HealthStub(channel)
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == SERVING
            reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
            # The whole stream, so the call has ended (and been logged) before the next one.
            (listed,) = reflect.ServerReflectionInfo(iter([
                reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
            names = {s.name for s in listed.list_services_response.service}
            assert {"lookalike.v1.Lookalike", "grpc.health.v1.Health"} <= names
        assert answers[0] == answers[1] and len(answers[0].neighbors) == 5
    finally:
        for channel in channels.values():
            channel.close()


def test_every_worker_finds_the_same_duplicates_and_says_the_calibration(group):
    # A threshold from the collection itself (a third of its images have a neighbour within
    # it), so some groups exist whatever the model makes of these images.
    with Collection.open(group.folder, read_only=True) as collection:
        _, _, vectors = collection.all_vectors()
    vectors = np.ascontiguousarray(vectors, np.float32)
    distances = faiss.knn(vectors, vectors, 2)[0][:, 1]
    request = pb.FindDuplicatesRequest(threshold=float(np.quantile(distances, 0.3)), nprobe=4)
    channels = channels_per_worker(group)
    try:
        answers, infos = {}, {}
        for worker, channel in channels.items():
            stub = pb_grpc.LookalikeStub(channel)
            assert group.answered_by(lambda w=worker, s=stub: answers.setdefault(
                w, list(s.FindDuplicates(request, timeout=60)))) == {worker}, group.last_calls
            infos[worker] = stub.Info(pb.InfoRequest(), timeout=30).duplicate_calibration
        assert answers[0] == answers[1] and answers[0]  # the same groups, and some
        assert infos[0] == infos[1] and infos[0].loose > 0
    finally:
        for channel in channels.values():
            channel.close()


def test_every_worker_answers_thumbnails_of_the_stored_files(group):
    """Each worker reads the stored files itself (its own cache): the same JPEGs from both."""
    clients = clients_per_worker(group)
    try:
        answers = {}
        stored = [item.id for item in clients[0].browse(page_size=2).items]
        for worker, client in clients.items():
            assert group.answered_by(
                lambda w=worker, c=client: answers.setdefault(
                    w, c.thumbnails([*stored, "nobody"], size=48))) == {worker}
        assert [t.status for t in answers[0]] == ["ok", "ok", "unknown_id"]
        assert [t.image for t in answers[0]] == [t.image for t in answers[1]]
    finally:
        for client in clients.values():
            client.close()


def test_every_worker_streams_the_same_map(group):
    clients = clients_per_worker(group)
    try:
        maps = {}
        for worker, client in clients.items():
            assert group.answered_by(lambda w=worker, c=client: maps.setdefault(w, c.map())
                                     ) == {worker}
        assert len(maps[0]) == 48 and maps[0].ids == maps[1].ids
        assert maps[0].version == maps[1].version and (maps[0].xy == maps[1].xy).all()
    finally:
        for client in clients.values():
            client.close()


def test_one_metrics_endpoint_sums_every_worker(group):
    port = group.metrics_port()
    before = scrape(port)
    channels = channels_per_worker(group)
    try:
        for channel in channels.values():
            for _ in range(2):
                pb_grpc.LookalikeStub(channel).Search(pb.SearchRequest(id="3", k=2), timeout=30)
        count = pb_grpc.LookalikeStub(channels[0]).Info(pb.InfoRequest(), timeout=30).count
    finally:
        for channel in channels.values():
            channel.close()
    after = scrape(port)
    calls = {"method": SEARCH, "code": "OK"}
    earlier = sample(before, "lookalike_calls_total", **calls) if SEARCH in before else 0
    assert sample(after, "lookalike_calls_total", **calls) - earlier == 4
    assert sample(after, "lookalike_worker_processes") == 2
    assert sample(after, "lookalike_collection_images") == count
    assert 'pid="' not in after  # summed, not one series per process


def test_an_add_on_one_worker_is_searchable_on_the_other_and_a_delete_too(group):
    clients = clients_per_worker(group)
    image = photo(seed=101)
    try:
        before = clients[1].info().count
        added = []
        # Add is a stream, logged when it ends (which can be after its answer arrived): wait
        # for its line, or it could land among the search's and look like worker 0 answered.
        assert group.answered_by(lambda: added.extend(clients[0].add(
            [image], ids=["cross-101"], paths=["/cross/101.png"]))) == {0}
        assert added[0].id == "cross-101"
        assert group.answered_by(lambda: clients[1].search(image, k=1), rpcs=1) == {1}
        assert clients[1].search(image, k=1).neighbors[0].id == "cross-101"
        assert clients[1].search(id="cross-101", k=1).neighbors
        assert clients[1].info().count == before + 1

        assert clients[1].delete(["cross-101"]) == (1, [])
        assert "cross-101" not in {n.id for n in clients[0].search(image, k=5).neighbors}
        with pytest.raises(NotFound):
            clients[0].search(id="cross-101", k=1)
        assert clients[0].info().count == before
    finally:
        for client in clients.values():
            client.close()


def test_read_your_writes_through_the_sdk_whichever_worker_answers(group):
    # Two SDK clients, one per worker, used as one caller: every write is read back at
    # once by the other worker, then by the writer.
    clients = clients_per_worker(group)
    try:
        for n in range(6):
            writer, reader = clients[n % 2], clients[(n + 1) % 2]
            image = photo(seed=200 + n)
            assert writer.add([image], ids=[f"ryw-{n}"])[0].id == f"ryw-{n}"
            assert reader.search(image, k=1).neighbors[0].id == f"ryw-{n}"
            assert writer.search(image, k=1).neighbors[0].id == f"ryw-{n}"
            assert reader.delete([f"ryw-{n}"]) == (1, [])
            assert f"ryw-{n}" not in {x.id for x in writer.search(image, k=3).neighbors}
    finally:
        for client in clients.values():
            client.close()


def test_a_killed_worker_is_restarted_and_no_acknowledged_write_is_lost(group):
    clients = clients_per_worker(group)
    channels = channels_per_worker(group)
    victim = group.pid_of(0)
    start = len(group.lines)
    acknowledged: list[tuple[int, str]] = []  # (seed, id)
    stop = threading.Event()

    def keep_adding() -> None:
        # One image per call on the channel that starts on worker 0; after the kill the
        # channel reconnects, to either worker. A call cut off by the kill is not
        # acknowledged, so its image may or may not be stored.
        stub = pb_grpc.LookalikeStub(channels[0])
        for seed in range(300, 400):
            if stop.is_set():
                return
            request = pb.AddRequest(tag="t", image=encode(photo(seed=seed), "PNG"),
                                    path=f"/kill/{seed}.png", id=f"kill-{seed}")
            try:
                answer = list(stub.Add(iter([request]), timeout=30))
            except grpc.RpcError:
                continue
            if not answer[0].HasField("error"):
                acknowledged.append((seed, answer[0].id))

    adder = threading.Thread(target=keep_adding)
    try:
        own = photo(seed=299)
        assert clients[0].add([own], ids=["own-299"])[0].id == "own-299"
        adder.start()
        while len(acknowledged) < 3:
            assert adder.is_alive(), "the adds stopped before the kill"
            time.sleep(0.01)
        os.kill(victim, 9)
        group.wait_for(f"worker 0 \\(pid {victim}\\) was killed by SIGKILL; starting it "
                       "again", start)
        # Worker 1 answers while worker 0 is down.
        survivor = pb_grpc.LookalikeStub(channels[1])
        assert survivor.Search(pb.SearchRequest(id="own-299", k=1), timeout=30).neighbors
        # The SDK client that was on the killed worker reads its own write, wherever its
        # retried call lands.
        assert clients[0].search(own, k=1).neighbors[0].id == "own-299"
        group.wait_for(rf"worker 0 \(pid (?!{victim}\b)\d+\) is serving", start)
        stop.set()
        adder.join(timeout=60)
        assert group.pid_of(0) != victim
        fresh = channels_per_worker(group)
        try:
            for worker, channel in fresh.items():
                stub = pb_grpc.LookalikeStub(channel)
                for seed, ident in acknowledged:
                    query = pb.SearchRequest(image=encode(photo(seed=seed), "PNG"), k=1)
                    assert stub.Search(query, timeout=30).neighbors[0].id == ident, worker
        finally:
            for channel in fresh.values():
                channel.close()
        restarts = sample(scrape(group.metrics_port()), "lookalike_worker_restarts_total")
        assert restarts >= 1
        # Killed again before it served a minute: the wait before its next start doubles.
        again = group.pid_of(0)
        later = len(group.lines)
        os.kill(again, 9)
        group.wait_for(f"worker 0 \\(pid {again}\\) was killed by SIGKILL; starting it "
                       "again in 2s", later)
        group.wait_for(rf"worker 0 \(pid (?!{again}\b)\d+\) is serving", later)
        assert sample(scrape(group.metrics_port()),
                      "lookalike_worker_restarts_total") == restarts + 1
    finally:
        stop.set()
        if adder.is_alive():
            adder.join(timeout=60)
        for closable in [*clients.values(), *channels.values()]:
            closable.close()


def test_a_second_server_on_the_folder_is_refused(group):
    for processes in ("2", "1"):
        done = subprocess.run(serve_command(group.folder, "--port", "0", "--processes",
                                            processes),
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2, done.stderr
        assert f"is already open by process {group.process.pid}" in done.stderr
        assert "Traceback" not in done.stderr


def test_the_group_port_is_refused_to_another_group(group, collection_copy):
    port = group.target.rsplit(":", 1)[1]
    done = subprocess.run(serve_command(collection_copy, "--port", port, "--processes", "2"),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_refused_before_any_worker_starts(built_collection):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(serve_command(built_collection, "--port", str(port),
                                            "--processes", "2"),
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert f"127.0.0.1:{port}: address already in use" in done.stderr
    assert "worker 0 started" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("flags", "environ", "words"),
    [
        (["--processes", "0"], {}, "--processes must be at least 1, got 0"),
        (["--processes", "-2"], {}, "--processes must be at least 1, got -2"),
        (["--processes", "100000"], {}, "--processes must be at most"),
        (["--processes", "two"], {}, "argument --processes: invalid int value: 'two'"),
        (["--processes", "1.5"], {}, "argument --processes: invalid int value: '1.5'"),
        ([], {"LOOKALIKE_PROCESSES": "many"}, "LOOKALIKE_PROCESSES='many' is not a valid value"),
        ([], {"LOOKALIKE_PROCESSES": "0"}, "LOOKALIKE_PROCESSES must be at least 1, got 0"),
    ],
    ids=["zero", "negative", "huge", "word", "fraction", "env-word", "env-zero"],
)
def test_a_bad_process_count_exits_2_with_its_message(built_collection, flags, environ, words):
    done = subprocess.run(serve_command(built_collection, "--port", "0", *flags),
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **environ})
    assert done.returncode == 2, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr and "serving on" not in done.stdout


def test_a_worker_that_cannot_start_stops_the_group_with_its_message(collection_copy,
                                                                       tmp_path):
    missing = tmp_path / "no-tokens"
    done = subprocess.run(serve_command(collection_copy, "--port", "0", "--processes", "2",
                                        "--token-file", str(missing)),
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 2, done.stderr
    assert f"lookalike serve: cannot read the token file {missing}" in done.stderr
    assert "Traceback" not in done.stderr and "serving on" not in done.stdout
    Collection.open(collection_copy).close()  # the group let go of the folder




def test_sigterm_drains_every_worker_and_exits_0(collection_copy):
    data = encode(photo(seed=9), "JPEG")
    served = Group(collection_copy, "--grace", "20", "--drain", "3")
    try:
        channels = channels_per_worker(served)
        stubs = {w: pb_grpc.LookalikeStub(c) for w, c in channels.items()}
        added = list(stubs[1].Add(iter([pb.AddRequest(
            tag="n", image=encode(photo(seed=77), "PNG"), path="/p77", id="p77")]), timeout=60))
        assert added[0].id == "p77"
        streams = {w: open_stream(stub, data) for w, stub in stubs.items()}
        for ask, _ in streams.values():
            assert ask("first").response.neighbors
        served.process.terminate()  # SIGTERM to the parent only
        for worker, channel in channels.items():
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 30
            while health.Check(health_pb2.HealthCheckRequest(), timeout=10).status != \
                    NOT_SERVING:
                assert time.monotonic() < deadline, f"worker {worker} still SERVING"
                time.sleep(0.02)
            with pytest.raises(grpc.RpcError) as info:
                stubs[worker].Search(pb.SearchRequest(id="1", k=1), timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        time.sleep(3.5)  # past the drain: the ports are closed, the streams still run
        for ask, close in streams.values():
            answer = ask("after-sigterm")
            assert answer.tag == "after-sigterm" and answer.response.neighbors
            assert close() == []
        for channel in channels.values():
            channel.close()
        code, log = served.stop()
    finally:
        if served.process.poll() is None:
            served.process.kill()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log
    for worker in (0, 1):
        assert f"[worker {worker} pid" in log
    assert log.count("stopped; the collection is closed") == 2
    reopened = Collection.open(collection_copy)  # the parent let go of the folder
    try:
        assert reopened.lookup("p77")[0].path == "/p77"
    finally:
        reopened.close()


def test_killing_the_parent_kills_its_workers_and_frees_the_folder(collection_copy):
    served = Group(collection_copy)
    workers = [served.pid_of(0), served.pid_of(1)]
    served.process.kill()
    served.process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)
              for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived its parent"
        time.sleep(0.05)
    Collection.open(collection_copy).close()  # nobody holds or writes the folder now


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"  # gone between the two reads
