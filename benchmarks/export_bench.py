"""`lookalike labels export` and `import` of 100K rows through a real server: seconds, JSON out.

A 100K-vector collection (blob vectors, 64 clusters) with a label on every tenth image and
two attributes on every image is served on a free port; the export (CSV and JSONL) and
the import of the unchanged file, then of the file with every tenth row's labels changed
(each one UpdateMany: one transaction, the server comparing every row) are timed through the
SDK, as the CLI calls them.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.testbed import blob_vectors, make_collection, save_model  # noqa: E402
from lookalike.clients import Client, Filter  # noqa: E402
from lookalike.clients.label_files import export_labels, import_labels  # noqa: E402
from lookalike.common.labels import Change  # noqa: E402
from lookalike.indexer.interface import Target  # noqa: E402

N = 100_000


def main() -> None:
    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import create_server

    work = Path(tempfile.mkdtemp())
    model = work / "model"
    model.mkdir()
    save_model(model)
    c = make_collection(work / "c", model, blob_vectors(N, centres=64), k=64)
    c.update(Target(ids=tuple(str(i) for i in range(1, N + 1, 10))),
             Change.checked(add_labels=["tenth"]))
    for cluster in range(64):
        c.update(Target(cluster=cluster), Change.checked(set_attributes=[
            ("source", f"batch-{cluster % 5}"), ("price", float(cluster))]))
    c.close()
    running = create_server(work / "c", ServerConfig(port=0))
    out: dict = {"rows": N}
    with Client(f"127.0.0.1:{running.port}", timeout=120) as client:
        for kind in (".csv", ".jsonl"):
            start = time.perf_counter()
            rows = export_labels(client, work / f"labels{kind}")
            out[f"export{kind[1:]}_s"] = round(time.perf_counter() - start, 2)
            assert rows == N
        start = time.perf_counter()
        done = import_labels(client, work / "labels.csv")
        out["import_unchanged_csv_s"] = round(time.perf_counter() - start, 2)
        assert done.unchanged == N and not done.errors
        lines = (work / "labels.csv").read_text().split("\n")
        for n in range(1, len(lines) - 1, 10):  # every tenth row: labels "edited;tenth"
            cells = lines[n].split(",")
            cells[4] = "edited"
            lines[n] = ",".join(cells)
        (work / "edited.csv").write_text("\n".join(lines))
        start = time.perf_counter()
        done = import_labels(client, work / "edited.csv")
        out["import_changed_csv_s"] = round(time.perf_counter() - start, 2)
        assert done.changed == N // 10 and not done.errors, done
        start = time.perf_counter()
        out["count_tenth"] = client.count(Filter(all_labels=["tenth"]))
        out["count_s"] = round(time.perf_counter() - start, 3)
    running.stop(grace_s=1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
