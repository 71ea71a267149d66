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
