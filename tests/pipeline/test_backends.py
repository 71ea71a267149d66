"""pipeline.backends: the local and the Ray backend keep one contract and give the same results."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from lookalike.common.sources import read_sources
from lookalike.encoder import checkpoint
from lookalike.indexer.local.collection import Collection
from lookalike.pipeline.backends import Backend, LocalBackend, backend_for
from lookalike.pipeline.build import BuildConfig, build_collection
from lookalike.pipeline.ray_embed import RayBackend, RayConfig

ONE_ACTOR = RayConfig(actors=1)


@pytest.mark.parametrize("backend", [LocalBackend(), LocalBackend(workers=2),
                                     RayBackend(ONE_ACTOR)])
def test_each_backend_keeps_the_protocol_to_the_letter(backend):
    assert isinstance(backend, Backend)
    for name in ("embed", "train_and_embed"):  # isinstance checks names, not signatures
        assert (inspect.signature(getattr(type(backend), name))
                == inspect.signature(getattr(Backend, name))), name


def test_the_flags_choose_the_backend_in_one_place():
    assert backend_for(None, None) == LocalBackend()
    assert backend_for(None, 3) == LocalBackend(workers=3)
    assert backend_for(ONE_ACTOR, 3) == RayBackend(ONE_ACTOR)


@pytest.mark.timeout(300)
def test_both_backends_embed_the_same_images_to_the_same_vectors(image_folder, model_dir,
                                                                 ray_local):
    model, sources = checkpoint.load(model_dir), read_sources(image_folder)
    here = LocalBackend().embed(model, sources)
    there = RayBackend(ONE_ACTOR).embed(model, sources)
    assert len(here.sources) == 48 and here.skipped == there.skipped == []
    assert here.sources == there.sources
    assert np.array_equal(here.vectors, there.vectors)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("whiten_dim", [0, 8])
def test_a_build_on_either_backend_stores_the_same_rows(tmp_path, image_folder, model_dir,
                                                        ray_local, whiten_dim):
    built = {}
    for name, ray in (("here", None), ("ray", ONE_ACTOR)):
        config = BuildConfig(clusters=3, whiten_dim=whiten_dim, ray=ray)
        built[name] = build_collection(image_folder, tmp_path / name, config,
                                       model=checkpoint.load(model_dir))
    assert built["here"].model_fingerprint == built["ray"].model_fingerprint
    with (Collection.open(built["here"].folder, read_only=True) as here,
          Collection.open(built["ray"].folder, read_only=True) as there):
        assert here.rows() == there.rows()  # ids, paths and clusters, row by row
        _, _, a = here.all_vectors()
        _, _, b = there.all_vectors()
    if whiten_dim:  # whitened in numpy here, in the encoder on Ray (encoder/whitening.py)
        np.testing.assert_allclose(a, b, atol=1e-5)
    else:
        assert np.array_equal(a, b)
