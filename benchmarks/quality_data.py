"""Benchmark-only image sets from Debian packages, and the split that keeps pretraining apart.

Usage: python benchmarks/quality_data.py        # fetches and unpacks, then prints what it has

Everything is downloaded with `apt-get download` and unpacked with `dpkg -x` into
$LOOKALIKE_BENCH_CACHE (default ~/.cache/lookalike-bench), outside the repository.
Tests and CI never need it.

The split (no image, and no clip-art topic, is on both sides):
- evaluation: five PNG icon themes (tango, oxygen, adwaita, elementary-xfce, faenza), the
  clip-art topics at even positions of the sorted topic list, MNIST-5000;
- pretraining: five other icon themes (mate, gnome, moka, gnome-colors, lxde), the clip-art
  topics at odd positions, the bundled scikit-image/scikit-learn photos and procedural
  images. Emoji sets of any vendor are kept out of both: they are reserved for independent
  checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

EVAL_THEMES = {  # package -> theme folder under usr/share/icons
    "tango-icon-theme": "Tango",
    "oxygen-icon-theme": "oxygen",
    "adwaita-icon-theme": "Adwaita",
    "elementary-xfce-icon-theme": "elementary-xfce",
    "faenza-icon-theme": "Faenza",
}
PRETRAIN_THEMES = {
    "mate-icon-theme": "mate",
    "gnome-icon-theme": "gnome",
    "moka-icon-theme": "Moka",
    "gnome-colors-common": "gnome-colors-common",
    "lxde-icon-theme": "nuoveXT2",
}
CLIPART = "openclipart-png"
MAX_ICON_SIZE = 128  # pick each icon's largest PNG up to this size


def cache_dir() -> Path:
    return Path(os.environ.get("LOOKALIKE_BENCH_CACHE", Path.home() / ".cache/lookalike-bench"))


def fetch(packages: list[str]) -> Path:
    """Downloads and unpacks Debian packages once; returns the unpacked root."""
    root, debs = cache_dir() / "root", cache_dir() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for package in packages:
        if any(debs.glob(f"{package}_*.deb")):
            continue
        print(f"fetching {package}", file=sys.stderr)
        subprocess.run(["apt-get", "download", "-q", package], cwd=debs, check=True,
                       stdout=subprocess.DEVNULL)
    for deb in sorted(debs.glob("*.deb")):
        marker = root / ".unpacked" / deb.name
        if not marker.exists():
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
    return root


def _size_of(path: Path) -> int:
    """An icon's pixel size from its folder names (48x48, 48, 48@2x); 0 if none."""
    for part in reversed(path.parts[:-1]):
        head = part.split("x")[0].split("@")[0]
        if head.isdigit():
            return int(head)
    return 0


def theme_icons(theme_dir: Path) -> dict[str, Path]:
    """icon name -> its largest PNG up to MAX_ICON_SIZE (a name that links to another
    icon's file keeps it: themes alias names that way, and the name is the label)."""
    best: dict[str, tuple[int, Path]] = {}
    for path in sorted(theme_dir.rglob("*.png")):
        if "symbolic" in path.name or not path.is_file():
            continue
        size = _size_of(path)
        if size > MAX_ICON_SIZE:
            continue
        name = path.stem
        if name not in best or size > best[name][0]:
            best[name] = (size, path)
    return {name: path for name, (_, path) in sorted(best.items())}


def icon_set(min_themes: int = 3) -> tuple[list[Path], list[str]]:
    """Evaluation icons: names found in at least min_themes of the five themes."""
    root = fetch(list(EVAL_THEMES))
    by_name: dict[str, list[Path]] = defaultdict(list)
    for theme in EVAL_THEMES.values():
        for name, path in theme_icons(root / "usr/share/icons" / theme).items():
            by_name[name].append(path)
    paths, labels = [], []
    for name, found in sorted(by_name.items()):
        if len(found) >= min_themes:
            paths += found
            labels += [name] * len(found)
    return paths, labels


def clipart_topics(split: str) -> dict[str, list[Path]]:
    """Clip-art PNGs by topic folder, for split 'eval' (even topics) or 'pretrain' (odd).

    A file linked into several topics is kept once, under the first topic in sorted order.
    """
    root = fetch([CLIPART]) / "usr/share/openclipart/png"
    topics = sorted(p.name for p in root.iterdir() if p.is_dir())
    chosen = topics[0::2] if split == "eval" else topics[1::2]
    seen: set[Path] = set()
    out: dict[str, list[Path]] = defaultdict(list)
    for topic in topics:
        for path in sorted((root / topic).rglob("*.png")):
            real = path.resolve()
            if real in seen:
                continue
            seen.add(real)
            if topic in chosen:
                out[topic].append(path)
    return dict(out)


def clipart_set() -> tuple[list[Path], list[str]]:
    paths, labels = [], []
    for topic, found in sorted(clipart_topics("eval").items()):
        paths += found
        labels += [topic] * len(found)
    return paths, labels


def pretrain_files() -> list[Path]:
    """Every pretraining file on disk (procedural images and photos are made in code)."""
    root = fetch(list(PRETRAIN_THEMES) + [CLIPART])
    files: list[Path] = []
    for theme in PRETRAIN_THEMES.values():
        files += theme_icons(root / "usr/share/icons" / theme).values()
    for found in clipart_topics("pretrain").values():
        files += found
    return files


def main() -> None:
    icons, icon_labels = icon_set()
    clip, clip_labels = clipart_set()
    pre = pretrain_files()
    overlap = {p.resolve() for p in pre} & {p.resolve() for p in icons + clip}
    print(json.dumps({
        "cache": str(cache_dir()),
        "icons": {"images": len(icons), "names": len(set(icon_labels))},
        "clipart_eval": {"images": len(clip), "topics": len(set(clip_labels))},
        "pretrain_files": len(pre),
        "overlap_eval_pretrain": len(overlap),
    }, indent=2))


if __name__ == "__main__":
    main()
