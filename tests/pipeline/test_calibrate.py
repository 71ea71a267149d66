"""A build stores a duplicate calibration: edited copies are nearer than other images."""

from __future__ import annotations

import numpy as np
from PIL import Image

from lookalike.common.edits import EDITS, as_png
from lookalike.indexer.calibration import Calibration
from lookalike.indexer.local.collection import Collection


def test_every_edit_makes_a_readable_picture():
    picture = Image.new("RGBA", (40, 30), (10, 200, 30, 128))
    for name, edit in EDITS.items():
        edited = edit(picture)
        assert min(edited.size) >= 1, name
        assert as_png(edited)[:4] == b"\x89PNG"


def test_a_built_collection_stores_its_calibration(built_collection):
    with Collection.open(built_collection, read_only=True) as collection:
        calibration = Calibration.from_settings(collection.store.settings())
    assert calibration is not None
    assert all(np.isfinite(calibration)) and 0 <= calibration.strict
    assert calibration.strict <= calibration.threshold <= calibration.loose < 4


def test_a_copy_already_stored_is_not_taken_for_the_nearest_other_image():
    from lookalike.pipeline.calibrate import _nearest_other

    vectors = np.array([[0, 0], [0.01, 0], [1, 0], [5, 5]], np.float32)
    # image 0's own edited copies sit about 0.05 away: image 1 (0.0001) is a stored copy
    got = _nearest_other(vectors, np.array([0, 3]), np.array([0.05, 0.05]))
    np.testing.assert_allclose(got, [1.0, 41.0])
    assert np.isinf(_nearest_other(vectors, np.array([0]), np.array([100.0])))[0]
