"""The collection map: computing it (sample plus placement), keeping it (atomic, checked on
read), and recomputing it at recluster and with `lookalike map`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans

from benchmarks.testbed import blob_vectors, make_collection
from lookalike.app.cli import main
from lookalike.common.errors import CollectionError, NoMap
from lookalike.indexer.local.collection import Collection
from lookalike.indexer.map_compute import MapConfig, compute_map, place_near
from lookalike.indexer.map_file import MAP_FILE, CollectionMap, read_map, refresh_map, write_map


def test_a_sampled_map_keeps_blobs_apart_and_places_the_rest_inside_their_blob():
    vectors = blob_vectors(600, centres=4, seed=2)
    xy = compute_map(vectors, MapConfig(sample=200, seed=1))
    assert xy.shape == (600, 2) and np.isfinite(xy).all()
    # Each point's nearest map neighbour is from its own blob (the blobs are far apart).
    blob = KMeans(4, n_init=3, random_state=0).fit_predict(vectors)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert (blob[d.argmin(1)] == blob).mean() > 0.98


def test_place_near_is_the_mean_of_the_nearest_known_points():
    known = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32)
    known_xy = np.array([[1, 1], [2, 2], [3, 3], [4, 4]], np.float32)
    got = place_near(known, known_xy, np.array([[1, 1], [9, 9]], np.float32), neighbours=1)
    assert np.array_equal(got, [[1, 1], [4, 4]])
    two = place_near(known, known_xy, np.array([[5, 0.5]], np.float32), neighbours=2)
    assert np.allclose(two, [[1.5, 1.5]])


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 7), dim=st.integers(1, 5), same=st.booleans())
def test_few_images_get_a_plane_without_t_sne(n, dim, same):
    vectors = (np.ones((n, dim)) if same else np.random.default_rng(n).normal(size=(n, dim)))
    if n > 5:
        return  # t-SNE's own case, tested above
    xy = compute_map(vectors.astype(np.float32))
    assert xy.shape == (n, 2) and np.isfinite(xy).all()


@given(ids=st.lists(st.text(min_size=1, max_size=40), unique=True, max_size=30))
def test_any_ids_survive_the_file_exactly(tmp_path_factory, ids):
    folder = tmp_path_factory.mktemp("m")
    xy = np.arange(2 * len(ids), dtype=np.float32).reshape(-1, 2)
    ids = [i for i in ids if not any(0xD800 <= ord(c) <= 0xDFFF for c in i)]
    xy = xy[: len(ids)]
    write_map(folder, CollectionMap(ids, xy, "v1"))
    back = read_map(folder)
    assert back.ids == ids and np.array_equal(back.xy, xy) and back.version == "v1"


def test_a_missing_or_damaged_map_is_refused_with_the_command(tmp_path: Path):
    with pytest.raises(NoMap, match=f"lookalike map {tmp_path}"):
        read_map(tmp_path)
    write_map(tmp_path, CollectionMap(["a", "b"], np.zeros((2, 2), np.float32), "v"))
    good = (tmp_path / MAP_FILE).read_bytes()
    (tmp_path / MAP_FILE).write_bytes(good[: len(good) // 2])
    with pytest.raises(CollectionError, match="damaged"):
        read_map(tmp_path)
    for bad in ({"ids": np.frombuffer(json.dumps(["a"]).encode(), np.uint8),
                 "xy": np.zeros((2, 2), np.float32)},
                {"ids": np.frombuffer(b'["a", "a"]', np.uint8), "xy": np.zeros((2, 2))},
                {"ids": np.frombuffer(b'["a"]', np.uint8), "xy": np.full((1, 2), np.nan)}):
        buffer = io.BytesIO()
        np.savez(buffer, version=np.frombuffer(b"v", np.uint8), seconds=np.float64(0), **bad)
        (tmp_path / MAP_FILE).write_bytes(buffer.getvalue())
        with pytest.raises(CollectionError, match="lookalike map"):
            read_map(tmp_path)


def test_recluster_writes_a_new_map_of_every_image_stored(collection_copy: Path):
    first = read_map(collection_copy)
    with Collection.open(collection_copy) as collection:
        collection.delete([first.ids[0]])
        collection.recluster()
    second = read_map(collection_copy)
    assert second.version != first.version
    assert sorted(second.ids) == sorted(first.ids[1:])
    with Collection.open(collection_copy, read_only=True) as reopened:
        assert sorted(r.id for r in reopened.rows()) == sorted(second.ids)



def test_recluster_no_map_keeps_the_old_map_until_lookalike_map(collection_copy: Path, capsys):
    first = read_map(collection_copy)
    assert main(["recluster", str(collection_copy), "--no-map", "--clusters", "3"]) == 0
    assert read_map(collection_copy).version == first.version  # untouched
    assert main(["map", str(collection_copy)]) == 0
    assert read_map(collection_copy).version != first.version

def test_lookalike_map_on_bad_input_says_why(tmp_path: Path, model_dir: Path, capsys):
    assert main(["map", str(tmp_path)]) == 1  # an empty folder, not a collection
    assert "lookalike map:" in capsys.readouterr().err
    with make_collection(tmp_path / "two", model_dir, blob_vectors(2), k=1,
                         ids=["a", "b"]) as two:
        two.delete(["a", "b"])
    assert main(["map", str(tmp_path / "two")]) == 1
    assert "nothing to map" in capsys.readouterr().err
    assert not (tmp_path / "two" / MAP_FILE).exists()
    make_collection(tmp_path / "one", model_dir, blob_vectors(1), k=1, ids=["only"]).close()
    assert main(["map", str(tmp_path / "one")]) == 0
    assert "mapped 1 images" in capsys.readouterr().out
    one = read_map(tmp_path / "one")
    assert one.ids == ["only"] and np.array_equal(one.xy, [[0, 0]])
    with pytest.raises(SystemExit):
        main(["map", str(tmp_path / "one"), "--sample", "0"])


def test_refresh_map_of_a_sampled_collection_reads_every_id(tmp_path: Path, model_dir: Path):
    with make_collection(tmp_path / "c", model_dir, blob_vectors(300, centres=3), k=3) as c:
        found = refresh_map(c, c.folder, MapConfig(sample=100))
        assert sorted(found.ids) == sorted(r.id for r in c.rows())
    assert read_map(tmp_path / "c").version == found.version
