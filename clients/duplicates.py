"""FindDuplicates on the wire: the request from the SDK's arguments, typed groups back."""

from __future__ import annotations

import math
from typing import Any

from lookalike.clients.checks import checked, int32
from lookalike.clients.errors import BadAnswer
from lookalike.clients.results import DuplicateCalibration, DuplicateGroup, DuplicateMember
from lookalike.common.errors import InvalidArgument
from lookalike.proto.v1 import lookalike_pb2 as pb

PRESETS = {None: pb.DUPLICATE_PRESET_CALIBRATED, "calibrated": pb.DUPLICATE_PRESET_CALIBRATED,
           "strict": pb.DUPLICATE_PRESET_STRICT, "loose": pb.DUPLICATE_PRESET_LOOSE}


def duplicates_request(threshold: float | None, preset: str | None, nprobe: int | None,
                       read_files: bool) -> pb.FindDuplicatesRequest:
    """The request, refusing here what the wire cannot carry: a threshold that is not a
    number, an unknown preset, both a threshold and a preset, an nprobe that is not an int.
    A negative, NaN or absurd threshold is the server's to refuse (it knows the vectors)."""
    if preset not in PRESETS:
        raise InvalidArgument(f"no duplicate preset {preset!r}: 'strict', 'loose' or None")
    if threshold is not None and preset not in (None, "calibrated"):
        raise InvalidArgument(f"give a threshold or the {preset} preset, not both")
    request = pb.FindDuplicatesRequest(preset=PRESETS[preset],
                                       nprobe=int32(nprobe or 0, "nprobe"),
                                       read_files=bool(read_files))
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise InvalidArgument(f"a duplicate threshold is a number, got {threshold!r}")
        request.threshold = float(threshold)
    return request


def duplicate_group(message: Any) -> DuplicateGroup:
    """A DuplicateGroup off the wire; BadAnswer for one that breaks the contract."""
    checked(message, "the server's duplicate group")
    members = [DuplicateMember(m.id, m.path, m.distance, m.exact, m.representative, m.cluster)
               for m in message.members]
    if len(members) < 2 or not members[0].representative or any(
            m.representative for m in members[1:]):
        raise BadAnswer(f"the server's duplicate group {message.group} has {len(members)} "
                        "members, or its representative is not first and alone")
    if message.group < 1 or not math.isfinite(message.threshold):
        raise BadAnswer(f"the server's duplicate group is numbered {message.group} with a "
                        f"threshold of {message.threshold}")
    return DuplicateGroup(message.group, members, message.threshold, message.groups)


def calibration_of(r: Any) -> dict[str, Any]:
    """An InfoResponse's duplicate calibration, as CollectionInfo's keyword."""
    if not r.HasField("duplicate_calibration"):
        return {}
    c = r.duplicate_calibration
    return {"duplicate_calibration": DuplicateCalibration(c.threshold, c.strict, c.loose)}
