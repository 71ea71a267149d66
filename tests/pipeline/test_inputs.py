"""The shared first step: sources in, decoded images and a skipped list out."""

import pytest

from benchmarks.testbed import make_images
from lookalike.common.errors import InvalidArgument, TrainingError
from lookalike.pipeline.inputs import check_unique_ids, read_images


def test_unreadable_rows_are_skipped_with_their_query_and_reason(tmp_path):
    good = make_images(tmp_path / "i", count=2, size=32)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,id\n{good[0]},a\nmissing.png,b\n{good[1]},c\n")
    read = read_images(manifest, 32)
    assert [s.id for s in read.sources] == ["a", "c"] and read.images.shape == (2, 32, 32, 3)
    assert read.skipped == [("missing.png", f"no such file: {tmp_path / 'missing.png'}")]


def test_no_readable_image_is_an_error_only_where_required(tmp_path):
    (tmp_path / "m.txt").write_text("missing.png\n")
    assert len(read_images(tmp_path / "m.txt", 32).skipped) == 1
    with pytest.raises(TrainingError, match="no readable images"):
        read_images(tmp_path / "m.txt", 32, require=True)


def test_repeated_ids_are_refused():
    check_unique_ids("m.csv", ["a", None, None, "b"])
    with pytest.raises(InvalidArgument, match="m.csv: the id 'a' is given twice"):
        check_unique_ids("m.csv", ["a", "b", "a"])
