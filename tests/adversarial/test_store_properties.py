"""Property-based: hostile ids and file names through the collection, build and `add`.

No unexpected exception, ever; a generated id never collides with another; every path
reads back as the exact bytes it was found as. Each test reuses one tiny untrained model
(no training per example) and keeps max_examples modest for make test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from benchmarks.testbed import blob_vectors, make_collection, make_images
from lookalike.common.errors import AlreadyExists, InvalidArgument, NotFound
from lookalike.common.paths import local_path, stored_path
from lookalike.indexer.ids import MAX_ID_CHARS
from lookalike.indexer.local.collection import Collection
from lookalike.pipeline.build import BuildConfig, build_collection
from tests.conftest import session_model

# Fixed examples in CI (no flaky runs); fresh ones on every local run.
FAST = settings(max_examples=12, deadline=None, derandomize=bool(os.environ.get("CI")),
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

IDS = st.one_of(
    st.none(),
    st.integers(1, 120).map(str),  # numbers the generated ids are about to reach
    st.text(max_size=12),  # unicode, "", newlines, NUL
    st.sampled_from(["\ud800", "x\udcff", " 7", "07", "7\n"]),  # unstorable or look-alikes
    st.builds(lambda c, n: c * n, st.characters(), st.integers(MAX_ID_CHARS - 2,
                                                               MAX_ID_CHARS + 2)),
)
PATHS = st.one_of(st.text(max_size=30), st.binary(max_size=30).map(os.fsdecode))


def valid(row_id: str | None) -> bool:
    if row_id is None:
        return True
    try:
        row_id.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return 0 < len(row_id) <= MAX_ID_CHARS


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_model(tmp_path_factory)


def test_random_ids_through_add_lookup_delete(tiny_model: Path) -> None:
    class Ids(RuleBasedStateMachine):
        """The collection against a dict of id -> stored path."""

        def __init__(self) -> None:
            super().__init__()
            self.tmp = tempfile.mkdtemp(prefix="ids-")
            self.c = make_collection(Path(self.tmp) / "c", tiny_model, blob_vectors(n=20), k=2)
            self.model = {r.id: r.path for r in self.c.store.rows()}

        def teardown(self) -> None:
            self.c.close()
            shutil.rmtree(self.tmp)

        @rule(ids=st.lists(IDS, min_size=1, max_size=4), paths=st.data())
        def add(self, ids: list[str | None], paths: st.DataObject) -> None:
            where = [paths.draw(PATHS) for _ in ids]
            given_ids = [i for i in ids if i is not None]
            vectors = np.random.default_rng(len(self.model)).normal(size=(len(ids), 16))
            try:
                rows = self.c.add(vectors.astype(np.float32), where, ids)
            except InvalidArgument:
                assert not all(map(valid, ids)) or any(
                    stored_fails(p) for p in where)
                return
            except AlreadyExists:
                assert set(given_ids) & set(self.model) or len(set(given_ids)) < len(given_ids)
                return
            assert all(map(valid, ids)) and not set(given_ids) & set(self.model)
            for row, row_id, path in zip(rows, ids, where, strict=True):
                assert row_id is None or row.id == row_id
                assert row.id not in self.model, f"id {row.id!r} collides"
                self.model[row.id] = stored_path(path)
                if not path.startswith("file://"):
                    assert local_path(row.path) == path  # lossless

        @rule(data=st.data())
        def delete(self, data: st.DataObject) -> None:
            known = sorted(self.model)
            ids = data.draw(st.lists(st.one_of(st.sampled_from(known), IDS.filter(bool)),
                                     min_size=1, max_size=4)) if known else ["none"]
            rows, missing = self.c.delete(ids)
            assert {r.id for r in rows} == set(ids) & set(self.model)
            assert set(missing) == set(ids) - set(self.model)
            for r in rows:
                del self.model[r.id]

        @rule(data=st.data())
        def lookup(self, data: st.DataObject) -> None:
            row_id = data.draw(st.one_of(st.sampled_from(sorted(self.model) or ["x"]),
                                         IDS.filter(bool)))
            if row_id in self.model:
                assert self.c.lookup(row_id)[0].path == self.model[row_id]
            else:
                with pytest.raises(NotFound):
                    self.c.lookup(row_id)

        @invariant()
        def counts_agree(self) -> None:
            assert self.c.store.count() == len(self.model) == len(self.c)

    run_state_machine_as_test(Ids, settings=settings(FAST, max_examples=8,
                                                     stateful_step_count=12))


def stored_fails(path: str) -> bool:
    try:
        stored_path(path)
    except InvalidArgument:
        return True
    return False


FILE_NAMES = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=40),
        st.text(min_size=1, max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
    ).filter(lambda b: b"/" not in b and b"\0" not in b).map(lambda b: b + b".png"),
    min_size=2, max_size=4, unique=True)


def write_named(folder: Path, names: list[bytes], image: bytes) -> set[bytes]:
    """One copy of image per raw file name; returns their absolute paths as bytes."""
    folder.mkdir(parents=True)
    made = set()
    for name in names:
        path = os.path.join(os.path.abspath(os.fsencode(folder)), name)
        with open(path, "wb") as f:
            f.write(image)
        made.add(path)
    return made


@pytest.fixture(scope="module")
def png(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_images(tmp_path_factory.mktemp("png"), count=1, size=32)[0].read_bytes()


@pytest.fixture(scope="module")
def model(tiny_model: Path):
    from lookalike.encoder import checkpoint

    return checkpoint.load(tiny_model)


@FAST
@given(names=FILE_NAMES)
def test_random_file_names_through_build(names: list[bytes], model, png: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        made = write_named(Path(tmp) / "images", names, png)
        built = build_collection(Path(tmp) / "images", Path(tmp) / "out",
                                 BuildConfig(clusters=1), model=model)
        with Collection.open(built.folder, read_only=True) as c:
            stored = [r.path for r in c.store.rows()]
        assert all(p.encode("utf-8") for p in stored)  # text any client can receive
        assert {os.fsencode(local_path(p)) for p in stored} == made


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import create_server

    folder = tmp_path_factory.mktemp("served") / "c"
    make_collection(folder, tiny_model, blob_vectors(n=20), k=2).close()
    running = create_server(folder, ServerConfig(port=0))
    try:
        yield running
    finally:
        running.stop(grace_s=1)


@settings(FAST, max_examples=8)
@given(names=FILE_NAMES)
def test_random_file_names_through_cli_add(names: list[bytes], server, png: bytes,
                                           capsys: pytest.CaptureFixture) -> None:
    from lookalike.app.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        made = write_named(Path(tmp) / "images", names, png)
        assert main(["add", str(Path(tmp) / "images"), "--target",
                     f"127.0.0.1:{server.port}"]) == 0
        assert f"added {len(names)} images, 0 refused" in capsys.readouterr().out
    rows = server.wait_ready().collection.store.rows()
    assert made <= {os.fsencode(local_path(r.path)) for r in rows}
    assert len({r.id for r in rows}) == len(rows)
