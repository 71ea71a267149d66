"""Bulk search from a manifest over the streaming RPC, one JSON line per row."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lookalike.clients.client import Client
from lookalike.clients.results import SearchResult
from lookalike.common.errors import LookalikeError
from lookalike.common.sources import Source, read_sources

logger = logging.getLogger(__name__)


@dataclass
class BulkSummary:
    rows: int
    errors: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def output_row(source: Source, outcome: SearchResult | LookalikeError) -> dict:
    """One output line: the manifest entry as written, its cluster, neighbours and error."""
    if isinstance(outcome, LookalikeError):
        return {"query": source.query, "cluster": None, "neighbors": [], "error": str(outcome)}
    return {
        "query": source.query,
        "cluster": outcome.cluster,
        "neighbors": [{"id": n.id, "path": n.path, "distance": n.distance, "cluster": n.cluster}
                      for n in outcome.neighbors],
        "error": None,
    }


def run_bulk(
    manifest: str | Path, client: Client, out: str | Path, k: int = 10, progress: bool = True,
) -> BulkSummary:
    """Searches every row of manifest and writes results.jsonl, flushed row by row."""
    import time

    from tqdm import tqdm

    sources = read_sources(manifest)
    start = time.perf_counter()
    errors = 0
    with open(out, "w", encoding="utf-8") as f, tqdm(
        total=len(sources), unit="img", desc="bulk", disable=not progress
    ) as bar:
        outcomes = client.search_many((s.location for s in sources), k=k)
        for source, outcome in zip(sources, outcomes):
            errors += isinstance(outcome, LookalikeError)
            _write_line(f, output_row(source, outcome))
            bar.update(1)
            bar.set_postfix(errors=errors)
    return BulkSummary(len(sources), errors, time.perf_counter() - start)


def _write_line(f: IO[str], row: dict) -> None:
    f.write(json.dumps(row) + "\n")
    f.flush()
