"""A full disk refuses the write with StorageFull and loses nothing: SQLite's page cap,
then a real full tmpfs (where this machine lets us mount one)."""


import numpy as np
import pytest

from benchmarks.testbed import blob_vectors, make_collection
from lookalike.common.errors import StorageFull
from lookalike.indexer.local.collection import Collection
from tests.tmpfs import fill_disk, small_tmpfs


def cap_pages(collection, extra: int = 0) -> None:
    """Makes the database "full" at its current size plus extra pages (PRAGMA max_page_count):
    SQLite then answers as on a full disk, SQLITE_FULL, "database or disk is full"."""
    db = collection.store._db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + extra}")


def test_a_full_database_refuses_the_add_and_keeps_everything(collection, vectors, tmp_path):
    """Issue 13, defect 5: a full disk surfaced as an unexpected sqlite3.OperationalError."""
    expected = collection.search(vectors[:10], 5)
    before = collection.store.count()
    cap_pages(collection)
    with pytest.raises(StorageFull, match="disk is full.*collection.sqlite.*nothing was stored"):
        collection.add(np.ones((3000, 16), np.float32), ["/big.png"] * 3000, [None] * 3000)
    assert collection.store.count() == before == len(collection)
    assert np.array_equal(collection.search(vectors[:10], 5).rowids, expected.rowids)
    cap_pages(collection, extra=10_000)  # space is freed: the same add now succeeds
    rows = collection.add(np.ones((3000, 16), np.float32), ["/big.png"] * 3000, [None] * 3000)
    collection.close()
    with Collection.open(tmp_path / "c") as again:
        assert again.store.count() == before + 3000
        assert again.lookup(rows[-1].id)[0].path == "/big.png"


def test_a_real_full_disk_refuses_adds_and_deletes_and_loses_nothing(tmp_path, model_dir):
    with small_tmpfs(12 << 20) as disk:
        c = make_collection(disk / "c", model_dir, blob_vectors(n=300), k=4)
        try:
            filler = fill_disk(disk)
            acked, refused = [], 0
            rng = np.random.default_rng(0)
            for n in range(400):  # the WAL's free frames may take a few adds first
                try:
                    c.add(rng.normal(size=(8, 16)).astype(np.float32), [f"/f{n}"] * 8,
                          [f"f{n}-{i}" for i in range(8)])
                    acked += [f"f{n}-{i}" for i in range(8)]
                except StorageFull as exc:
                    assert "disk is full" in str(exc)
                    refused += 1
                    if refused == 3:
                        break
            assert refused == 3, "the full disk never refused an add"
            deleted = set()
            for chunk in ([str(i) for i in range(1, 100)], acked[:20]):
                try:
                    deleted |= {r.id for r in c.delete(chunk)[0]}
                except StorageFull:
                    pass
            filler.unlink()
            c.add(np.ones((1, 16), np.float32), ["/after.png"], ["after"])
        finally:
            c.close()
        with Collection.open(disk / "c") as again:
            ids = {r.id for r in again.store.rows()}
            assert set(acked) - deleted <= ids and not ids & deleted and "after" in ids
            assert len(again) == again.store.count() == len(ids)
