"""FindDuplicates over a served collection: every group of near-duplicates, streamed, and the
work stopped between range searches once the caller has gone away."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

from lookalike.common.errors import InvalidArgument
from lookalike.indexer.calibration import Calibration, resolve
from lookalike.indexer.copies import (
    FoundGroup,
    finish_groups,
    search_collection,
    stored_calibration,
)
from lookalike.indexer.duplicates import Alive
from lookalike.proto.v1 import lookalike_pb2 as pb

PRESETS = {pb.DUPLICATE_PRESET_CALIBRATED: None, pb.DUPLICATE_PRESET_STRICT: "strict",
           pb.DUPLICATE_PRESET_LOOSE: "loose"}


def duplicates_threshold(request: pb.FindDuplicatesRequest,
                         calibration: Calibration | None) -> float:
    """The threshold a request asks for: its own, else its preset's calibrated one.

    Raises:
        InvalidArgument: an unknown preset, a threshold and a preset together, or neither
            a threshold nor a calibration (the threshold's own meaning is checked by
            indexer.duplicates.check_threshold against the collection's vectors).
    """
    if request.preset not in PRESETS:
        raise InvalidArgument(f"no duplicate preset {request.preset}: 0 (calibrated), 1 "
                              f"(strict) or 2 (loose)")
    preset = PRESETS[request.preset]
    given = request.threshold if request.HasField("threshold") else None
    if given is not None and preset is not None:
        raise InvalidArgument(f"give a threshold or the {preset} preset, not both")
    return resolve(calibration, given, preset)


def calibration_message(collection: Any) -> pb.DuplicateCalibration | None:
    """The collection's calibration for InfoResponse; None where it has none."""
    found = stored_calibration(collection)
    if found is None:
        return None
    return pb.DuplicateCalibration(threshold=found.threshold, strict=found.strict,
                                   loose=found.loose)


def find_duplicates(collection: Any, request: pb.FindDuplicatesRequest,
                    alive: Alive) -> Iterator[pb.DuplicateGroup]:
    """One DuplicateGroup per group, largest first (indexer.copies.iter_groups).

    alive is asked between range searches and between groups: a caller who cancels stops
    the work there (DeadlineExceeded, which the servicer ends as the caller's status).
    """
    if request.nprobe < 0:
        raise InvalidArgument(f"nprobe must be 0 (the default) or more, got {request.nprobe}")
    threshold = duplicates_threshold(request, stored_calibration(collection))
    read_files = request.read_files if request.HasField("read_files") else True
    # A stable view of rows and vectors: adds and deletes wait while they are read.
    stable = getattr(collection, "writing", nullcontext)
    searched = search_collection(collection, threshold, request.nprobe or None, read_files,
                                 alive, stable)
    total = len(searched.groups)
    for number, found in enumerate(finish_groups(searched, alive), 1):
        yield _group_message(number, found, threshold, total)


def _group_message(number: int, found: FoundGroup, threshold: float,
                   total: int) -> pb.DuplicateGroup:
    group, rows = found
    members = [pb.DuplicateMember(id=row.id, path=row.path, distance=float(group.distances[k]),
                                  exact=bool(group.exact[k]), representative=k == 0,
                                  cluster=row.cluster)
               for k, row in enumerate(rows)]
    return pb.DuplicateGroup(group=number, members=members, threshold=threshold, groups=total)
