"""Bulk search from a manifest over SearchStream, one output row per manifest row."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from lookalike.clients.bulk_output import OutputWriter
from lookalike.clients.client import Client
from lookalike.clients.filters import Filter
from lookalike.clients.label_messages import filter_message
from lookalike.clients.prefetch import RowFeed, downsized, prepare_row
from lookalike.clients.results import SearchResult
from lookalike.common.errors import (
    DeadlineExceeded,
    InvalidArgument,
    LookalikeError,
    Unavailable,
)
from lookalike.common.pool import default_workers, ordered_map
from lookalike.common.sources import Source, read_sources

logger = logging.getLogger(__name__)

# URL rows fetched at once per stream: the network, not the CPU, is what they wait on.
FETCH_THREADS = 8
# Rows a stream may start past the oldest one not yet written, in windows: while a URL
# row waits out its fetch deadline, this many later rows are fetched and searched.
AHEAD_WINDOWS = 8


@dataclass(frozen=True)
class BulkConfig:
    """How a bulk run searches and writes.

    Attributes:
        k: neighbours per row.
        nprobe: clusters to scan (None: the collection's default).
        concurrency: parallel streams; rows are dealt out in turn and merged back in order.
        window: rows in flight per stream.
        workers: processes reading and downsizing images, in all (None: one per core);
            each stream gets its share, and a share of 1 reads in the stream's threads.
        resume: continue an existing output, skipping the rows it holds.
        overwrite: replace an existing output.
        progress: show a progress bar.
        filter: only images it matches are answered, for every row (None: all).
    """

    k: int = 10
    nprobe: int | None = None
    concurrency: int = 2
    window: int = 64
    workers: int | None = None
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    filter: Filter | None = None

    def __post_init__(self) -> None:
        for name in ("k", "concurrency", "window", "workers"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InvalidArgument(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.nprobe is not None and self.nprobe < 1:
            raise InvalidArgument(f"nprobe must be at least 1, got {self.nprobe}")
        if self.resume and self.overwrite:
            raise InvalidArgument("give --resume or --overwrite, not both")
        filter_message(self.filter)  # a bad filter stops the run before any row


@dataclass
class BulkSummary:
    rows: int  # processed in this run
    errors: int  # row errors in this run
    seconds: float
    total: int = 0  # rows in the manifest
    skipped: int = 0  # already in the output when resuming
    earlier_errors: int = 0  # row errors among the skipped rows

    @property
    def total_errors(self) -> int:
        return self.errors + self.earlier_errors

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def output_row(source: Source, outcome: SearchResult | LookalikeError) -> dict[str, Any]:
    """One output row: the manifest entry as written, its cluster, neighbours and error."""
    if isinstance(outcome, LookalikeError):
        return {"row": source.row, "query": source.query, "id": source.id, "cluster": None,
                "neighbors": [], "error": f"{type(outcome).__name__}: {outcome}"}
    return {
        "row": source.row, "query": source.query, "id": source.id,
        "cluster": outcome.cluster,
        "neighbors": [{"id": n.id, "path": n.path, "distance": n.distance, "cluster": n.cluster,
                       "cluster_name": n.cluster_name, "labels": list(n.labels),
                       "attributes": dict(n.attributes)} for n in outcome.neighbors],
        "error": None,
    }


def search_in_order(
    client: Client, todo: Sequence[Source], config: BulkConfig,
) -> Iterator[SearchResult | LookalikeError]:
    """Outcomes for todo, in order, over config.concurrency streams dealt rows in turn."""
    n = max(1, min(config.concurrency, len(todo)))
    share = max(1, (config.workers or default_workers()) // n)
    # A connection per stream: a server of several worker processes (`serve --processes`)
    # spreads connections, not calls, so streams on one connection would share one worker.
    clients = [client] + [Client(client.target, config=client.config) for _ in range(n - 1)]
    feeds: list[RowFeed] = []
    try:
        streams = []
        for i, each in enumerate(clients):
            feed = _feed(each, todo[i::n], share, config.window)
            feeds.append(feed)
            streams.append(feed.in_row_order(each.search_many(
                feed, k=config.k, nprobe=config.nprobe, filter=config.filter,
                window=config.window,
                workers=max(2, share))))
        for i in range(len(todo)):
            yield next(streams[i % n])
    finally:
        for feed in feeds:
            feed.close()
        for extra in clients[1:]:
            extra.close()


def _feed(client: Client, rows: Sequence[Source], workers: int, window: int) -> RowFeed:
    """What one stream sends for rows, each as soon as it is ready (prefetch.RowFeed).

    URL rows are fetched and downsized in threads: waiting on the network, they would
    hold a whole chunk of a worker process, and every row after them, for as long as the
    fetch deadline. With downsizing on, local files are read and downsized in `workers`
    processes, chunked and in order (lookalike.common.pool), since in threads half of a
    decode holds the GIL; the stream then sends those bytes as they are.
    """
    size = client.input_size()
    limits = client.config.fetch

    def read_local(locations: list[str]) -> Iterator[Any]:
        if not size or workers < 2:
            return iter(locations)
        return ordered_map(partial(downsized, size=size, limits=limits), locations,
                           workers=workers)

    return RowFeed([s.location for s in rows], partial(prepare_row, size=size, limits=limits),
                   read_local, threads=FETCH_THREADS, ahead=AHEAD_WINDOWS * window)


def run_bulk(
    manifest: str | Path, client: Client, out: str | Path, config: BulkConfig | None = None,
) -> BulkSummary:
    """Searches every row of manifest and writes out (.jsonl or .csv), flushed row by row.

    Raises:
        Unavailable, DeadlineExceeded: the server stayed down past the retry policy; the
            output holds every row finished so far and `resume` continues it.
    """
    from tqdm import tqdm

    config = config or BulkConfig()
    sources = read_sources(manifest)
    writer = OutputWriter(out, sources, resume=config.resume, overwrite=config.overwrite)
    done = writer.progress.done
    todo = [s for s in sources if s.row not in done]
    start = time.perf_counter()
    errors = finished = 0
    try:
        with tqdm(total=len(sources), initial=len(done), unit="img", desc="bulk",
                  disable=not config.progress or not todo) as bar:
            bar.set_postfix(errors=writer.progress.errors)
            outcomes = search_in_order(client, todo, config) if todo else iter(())
            for source, outcome in zip(todo, outcomes, strict=False):
                errors += isinstance(outcome, LookalikeError)
                writer.write(output_row(source, outcome))
                bar.update(1)
                bar.set_postfix(errors=writer.progress.errors + errors, refresh=False)
                finished += 1
    except (Unavailable, DeadlineExceeded) as exc:
        written = len(done) + finished
        raise type(exc)(f"{exc}; stopped with {written} of {len(sources)} rows in {out}, "
                        "run again with --resume to continue") from None
    finally:
        writer.close()
    return BulkSummary(finished, errors, time.perf_counter() - start, len(sources), len(done),
                       writer.progress.errors)
