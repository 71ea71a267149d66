"""`lookalike add` as a function: every image of a folder or manifest, sent to a server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lookalike.clients.checks import text
from lookalike.clients.client import Client
from lookalike.common.errors import InvalidArgument, LookalikeError
from lookalike.common.paths import as_found, stored_path
from lookalike.common.sources import ImagesSpec, Source, image_bytes, read_sources

Skipped = tuple[str, str]  # (the row's query as written, why it was not added)

ADD_CHUNK = 32  # images per Add stream: small enough for a lively progress bar


@dataclass(frozen=True)
class AddResult:
    added: int
    refused: list[Skipped]  # unreadable here, or refused by the server


def add_from_manifest(
    client: Client, images_spec: ImagesSpec, ids: Sequence[str] | None = None, *,
    chunk: int = ADD_CHUNK, progress: bool = False,
) -> AddResult:
    """Adds every image of images_spec to the collection client is connected to.

    Images go as bytes, a chunk per Add stream, with the labels and attributes the manifest
    gives them; the server decodes and embeds them. An unreadable file or a refused image is
    reported and the rest go on.

    Args:
        ids: one id per image, in order; by default the manifest's id column, else the
            server numbers them.
    """
    sources = read_sources(images_spec)
    row_ids = _ids_for(sources, ids)
    added, refused = 0, []
    with _bar(len(sources), progress) as bar:
        for start in range(0, len(sources), chunk):
            rows = list(zip(sources[start : start + chunk], row_ids[start : start + chunk],
                            strict=True))
            done, failed = _add_chunk(client, rows)
            added += done
            refused += failed
            bar.update(len(rows))
    return AddResult(added, refused)


def _ids_for(sources: list[Source], ids: Sequence[str] | None) -> list[str | None]:
    if not ids:
        return [s.id for s in sources]
    if len(ids) != len(sources):
        raise InvalidArgument(
            f"--ids gives {len(ids)} ids for {len(sources)} images; give one per image")
    return list(ids)


def _add_chunk(client: Client, rows: list[tuple[Source, str | None]]
               ) -> tuple[int, list[Skipped]]:
    ready, refused = [], []
    for source, row_id in rows:  # an unreadable file or a bad id is reported, the rest go on
        try:
            if row_id is not None:
                text(row_id, "the id")  # e.g. a lone surrogate that JSON can spell
            ready.append((source, row_id, image_bytes(source.location)))
        except LookalikeError as exc:
            refused.append((source.query, str(exc)))
    if not ready:
        return 0, refused
    # As found (links kept), and as text the wire can carry (common/paths.py).
    paths = [stored_path(as_found(s.location)) for s, _, _ in ready]
    answers = client.add([b for _, _, b in ready], [i for _, i, _ in ready], paths,
                         labels=[sorted(s.payload.labels) for s, _, _ in ready],
                         attributes=[dict(s.payload.attributes) for s, _, _ in ready])
    added = 0
    for (source, _, _), answer in zip(ready, answers, strict=True):
        if isinstance(answer, LookalikeError):
            refused.append((source.query, str(answer)))
        else:
            added += 1
    return added, refused


def _bar(total: int, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="adding", disable=not progress)
