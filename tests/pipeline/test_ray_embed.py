"""pipeline.ray_embed: Ray Data decodes and embeds exactly as the local pipeline does."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from benchmarks.testbed import make_images
from lookalike.common.errors import InvalidArgument, Unavailable
from lookalike.common.sources import Source, read_sources
from lookalike.encoder import checkpoint
from lookalike.encoder.pretrained import load_base
from lookalike.indexer.local.collection import Collection
from lookalike.pipeline import ray_embed
from lookalike.pipeline.build import BuildConfig, build_collection
from lookalike.pipeline.inputs import read_vectors
from lookalike.pipeline.ray_embed import RayConfig

pytest.importorskip("ray.data")
pytestmark = pytest.mark.timeout(300)

# Small batches: several blocks and actor calls, a ragged last one, skipped rows inside.
SMALL_BATCHES = RayConfig(decode_batch=64, embed_batch=64)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 images and ids in a JSONL manifest, with among them: an undecodable file, a
    missing one, a file whose name is not UTF-8, and a lone surrogate no file name holds."""
    folder = tmp_path_factory.mktemp("ray-images")
    paths = [str(p) for p in make_images(folder, count=150, size=80, seed=3)]
    (folder / "broken.png").write_bytes(b"not a png")
    paths[40:40] = [str(folder / "broken.png")]
    paths[100:100] = [str(folder / "missing.jpg")]
    latin1 = os.fsdecode(os.fsencode(str(folder)) + b"/caf\xe9.png")
    os.rename(paths[120], latin1)  # a readable image, whatever its name's bytes
    paths[120] = latin1
    paths[130:130] = [str(folder / "\ud800.png")]
    manifest = folder / "m.jsonl"
    # JSON's \uXXXX escapes carry both odd names as read_sources will give them back.
    manifest.write_text("".join(json.dumps({"path": p, "id": f"id{i}"}) + "\n"
                                for i, p in enumerate(paths)))
    return manifest


@pytest.fixture(scope="module")
def both(ray_local, manifest):
    """The local pipeline's result and Ray's, for the same manifest and model."""
    model = load_base()
    local = read_vectors(model, manifest)
    on_ray = ray_embed.read_vectors(model, read_sources(manifest), SMALL_BATCHES)
    return local, on_ray


def test_ray_vectors_equal_the_local_pipelines_bit_for_bit(both):
    local, on_ray = both
    assert on_ray.vectors.dtype == np.float32 and on_ray.vectors.shape == (150, 128)
    # Both embed each image at its row (encoder/embed.py): exactly equal.
    assert np.array_equal(on_ray.vectors, local.vectors)


def test_kept_sources_come_back_in_input_order(both):
    local, on_ray = both
    assert on_ray.sources == local.sources
    assert [s.id for s in on_ray.sources] == [
        f"id{i}" for i in range(153) if i not in (40, 100, 130)]
    assert on_ray.sources[118].location.endswith("caf\udce9.png")


def test_unreadable_files_are_skipped_with_the_local_messages(both, manifest):
    local, on_ray = both
    folder = manifest.parent
    assert on_ray.skipped == local.skipped
    assert on_ray.skipped[:2] == [
        (str(folder / "broken.png"),
         f"{folder / 'broken.png'}: the bytes are not an image Pillow can read"),
        (str(folder / "missing.jpg"), f"no such file: {folder / 'missing.jpg'}"),
    ]
    assert on_ray.skipped[2][0].endswith("\ud800.png")
    assert "not a valid file name" in on_ray.skipped[2][1]


def test_rows_arriving_in_any_order_are_put_back_in_input_order():
    sources = [Source(i, f"q{i}", f"/p{i}") for i in range(6)]
    index = np.array([4, 0, 5, 2, 1, 3])
    vectors = np.repeat(index[:, None], 2, axis=1).astype(np.float32)
    errors = np.array(["" if i != 2 else "bad" for i in index], dtype=object)
    got = ray_embed._in_order(sources, index, vectors, errors)
    assert [s.row for s in got.sources] == [0, 1, 3, 4, 5]
    assert got.vectors[:, 0].tolist() == [0, 1, 3, 4, 5]
    assert got.skipped == [("q2", "bad")]


def test_a_ray_build_searches_like_a_local_build_with_the_same_model(
        tmp_path, image_folder, model_dir, ray_local):
    # Whitening to 8 dimensions: the Ray build fits it on its sample (here every image),
    # then the cluster embeds through the whitened model.
    config = BuildConfig(clusters=3, whiten_dim=8)
    here = build_collection(image_folder, tmp_path / "here", config,
                            model=checkpoint.load(model_dir))
    there = build_collection(image_folder, tmp_path / "ray", BuildConfig(
        clusters=3, whiten_dim=8, ray=RayConfig(actors=1)), model=checkpoint.load(model_dir))
    assert there.model_fingerprint == here.model_fingerprint  # the same whitening
    assert (there.images, there.clusters, there.default_nprobe) == (
        here.images, here.clusters, here.default_nprobe)
    assert set(there.seconds) == {"sample", "whiten", "embed", "cluster", "calibrate", "index",
                                  "map"}
    with (Collection.open(here.folder, read_only=True) as a,
          Collection.open(there.folder, read_only=True) as b):
        queries = np.stack([a.lookup(str(i))[1] for i in range(1, len(a) + 1)])
        hits_a, hits_b = a.search(queries, 5), b.search(queries, 5)
        assert np.array_equal(hits_a.rowids, hits_b.rowids)
        assert [[(hits_a.rows[r].id, hits_a.rows[r].path) for r in row] for row in hits_a.rowids
                ] == [[(hits_b.rows[r].id, hits_b.rows[r].path) for r in row]
                      for row in hits_b.rowids]
        # Whitened in the encoder on Ray, in numpy here (encoder/whitening.py): 1e-6 apart.
        np.testing.assert_allclose(np.stack([b.lookup(str(i))[1] for i in range(1, len(b) + 1)]),
                                   queries, atol=1e-5)


def test_an_unreachable_cluster_is_a_clear_error_before_any_training(
        tmp_path, image_folder, model_dir):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nobody = RayConfig(address=f"ray://127.0.0.1:{port}")
    message = f"cannot reach the Ray cluster at ray://127.0.0.1:{port}"
    sources = [Source(0, "a.png", "a.png")]
    with pytest.raises(Unavailable, match=message):
        ray_embed.read_vectors(checkpoint.load(model_dir), sources, nobody)
    with pytest.raises(Unavailable, match=message):  # within seconds: no training
        build_collection(image_folder, tmp_path / "c", BuildConfig(ray=nobody))
    assert not (tmp_path / "c").exists()
    with pytest.raises(InvalidArgument, match="expected auto, local"):
        ray_embed.read_vectors(checkpoint.load(model_dir), sources, RayConfig(address="head"))


def test_batches_hold_whole_embedding_windows():
    with pytest.raises(ValueError, match="embed_batch must be a multiple of 64"):
        RayConfig(embed_batch=100)


class _SlowStartingRay:
    """Stands in for the ray module: its first `fails` inits time out as Ray's raylet did."""

    def __init__(self, fails: int) -> None:
        self.fails, self.inits, self.shutdowns = fails, 0, 0

    def init(self, **_: object) -> None:
        self.inits += 1
        if self.inits <= self.fails:
            raise Exception("The current node timed out during startup. This could happen "
                            "because some of the raylet failed to startup")

    def shutdown(self) -> None:
        self.shutdowns += 1


def test_a_local_ray_that_misses_its_startup_wait_is_started_once_more() -> None:
    from lookalike.common.errors import Unavailable
    from lookalike.pipeline.ray_embed import _start_local

    once = _SlowStartingRay(fails=1)
    _start_local(once, 2)
    assert (once.inits, once.shutdowns) == (2, 1)
    always = _SlowStartingRay(fails=5)
    with pytest.raises(Unavailable, match="did not start"):
        _start_local(always, 2)
    assert always.inits == 2
