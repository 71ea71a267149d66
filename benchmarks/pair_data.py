"""Natural "same thing, another drawing" pairs for pretraining (issue 28), cached as one npz.

Usage:
  python benchmarks/pair_data.py [--out .devdata/pairs.npz] [--npm .devdata/npm]

Groups (each image has the id of its group; a group has two or more images):
- icons: the same freedesktop name across Debian icon themes other than the suite's five
  evaluation themes (PAIR_THEMES; themes derived from an evaluation theme, elementary and
  obsidian, are left out);
- chars: the same character in several Debian typefaces (pair_fonts.py);
- npm: the same icon in several styles of one npm icon set (NPM_SETS), rasterised with
  cairosvg. HELD_OUT (bootstrap-icons) is never read here: retrieval_quality's cross-style
  set uses it.
Emoji never enter: no emoji font or set is fetched, and names that say emoji, emote or face
are dropped. Any image within a small pixel distance of an evaluation icon is dropped too.
The npz records every package and version used. npm tarballs are fetched once with
`npm pack NAME@VERSION` into --npm and unpacked there.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import tarfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import pair_fonts  # noqa: E402
import quality_data  # noqa: E402

from lookalike.common.decode import decode_image  # noqa: E402

logger = logging.getLogger(__name__)

SIZE = 64
PAIR_THEMES = {  # package -> theme folder; the first five are already base pretraining
    **quality_data.PRETRAIN_THEMES, "faba-icon-theme": "Faba", "numix-icon-theme": "Numix",
    "numix-icon-theme-circle": "Numix-Circle", "gnome-icon-theme-nuovo": "Nuovo",
    "paper-icon-theme": "Paper", "papirus-icon-theme": "Papirus",
    "gnome-icon-theme-suede": "Suede", "gnome-icon-theme-gartoon": "gartoon",
    "gnome-icon-theme-yasis": "yasis", "breeze-icon-theme": "breeze",
    "deepin-icon-theme": "bloom", "sugar-icon-theme": "sugar", "suru-icon-theme": "suru",
}
NPM_SETS = {"@phosphor-icons/core": "2.1.1", "@tabler/icons": "3.54.0", "heroicons": "2.2.0",
            "ionicons": "8.1.0", "@material-design-icons/svg": "0.14.15",
            "remixicon": "4.9.1", "iconoir": "7.12.1"}
HELD_OUT = ("bootstrap-icons", "1.13.2")
MAX_GROUP = 8  # drawings per group: a few more styles add little, and cost pretraining time
NOT_PAIRS = re.compile(r"emoji|emote|emoticon|^face-|smiley")


def npm_package(root: Path, name: str, version: str) -> Path:
    """The unpacked `package/` folder of name@version, packed into root once."""
    tgz = root / (name.lstrip("@").replace("/", "-") + f"-{version}.tgz")
    if not tgz.exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", "-q", f"{name}@{version}"], cwd=root, check=True,
                       stdout=subprocess.DEVNULL)
    out = root / tgz.name.removesuffix(".tgz")
    if not (out / "package").exists():
        with tarfile.open(tgz) as tar:
            tar.extractall(out, filter="data")
    return out / "package"


def _styles(files: list[Path], style_of: Callable[[Path], tuple[str, str] | None],
            ) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(files):
        found = style_of(path)
        if found and not NOT_PAIRS.search(found[0]):
            groups[found[0]].append(path)
    return groups


def _suffix(path: Path, suffixes: tuple[str, ...]) -> tuple[str, str]:
    for s in suffixes:
        if path.stem.endswith(s):
            return path.stem.removesuffix(s), s
    return path.stem, ""


STYLE_RULES: dict[str, tuple[str, Callable[[Path], tuple[str, str] | None]]] = {
    # set -> (svg glob under package/, path -> (icon name, style) or None to skip)
    "@phosphor-icons/core": ("assets/*/*.svg", lambda p: (
        p.stem.removesuffix("-" + p.parent.name), p.parent.name)),
    "@tabler/icons": ("icons/*/*.svg", lambda p: (p.stem, p.parent.name)),
    "heroicons": ("*/*/*.svg", lambda p: (p.stem, f"{p.parent.parent.name}/{p.parent.name}")),
    "ionicons": ("dist/svg/*.svg", lambda p: _suffix(p, ("-outline", "-sharp"))),
    "@material-design-icons/svg": ("*/*.svg", lambda p: (p.stem, p.parent.name)),
    "remixicon": ("icons/*/*.svg", lambda p: _suffix(p, ("-line", "-fill"))),
    "iconoir": ("icons/*/*.svg", lambda p: (p.stem, p.parent.name)),
    "bootstrap-icons": ("icons/*.svg", lambda p: _suffix(p, ("-fill",))),
}


def npm_groups(root: Path, name: str, version: str) -> dict[str, list[Path]]:
    """icon name -> its SVG in every style the set draws it in (two or more)."""
    glob, style_of = STYLE_RULES[name]
    package = npm_package(root, name, version)
    groups = _styles(list(package.glob(glob)), style_of)
    return {k: v for k, v in groups.items() if len(v) >= 2}


def svg_image(path: Path, size: int = SIZE) -> np.ndarray:
    """An SVG rasterised by cairosvg at 2x, then decoded as the product decodes a PNG."""
    import cairosvg

    png = cairosvg.svg2png(url=str(path), output_width=size * 2, output_height=size * 2)
    return decode_image(png, size)


def theme_files(theme_dir: Path) -> dict[str, Path]:
    """name -> its largest PNG up to 128 px, else its SVG (symbolic icons skipped)."""
    best: dict[str, tuple[int, Path]] = {}
    for path in sorted(theme_dir.rglob("*")):
        if path.suffix not in (".png", ".svg") or "symbolic" in path.name:
            continue
        if not path.exists() or NOT_PAIRS.search(path.stem):
            continue
        size = 100 if path.suffix == ".svg" else quality_data._size_of(path)
        if size <= quality_data.MAX_ICON_SIZE and size > best.get(path.stem, (-1,))[0]:
            best[path.stem] = (size, path)
    return {name: path for name, (_, path) in best.items()}


def theme_groups(root: Path, min_themes: int = 3) -> dict[str, list[Path]]:
    by_name: dict[str, list[Path]] = defaultdict(list)
    for theme in PAIR_THEMES.values():
        for name, path in theme_files(root / "usr/share/icons" / theme).items():
            by_name[name].append(path)
    return {f"icon:{k}": v for k, v in by_name.items() if len(v) >= min_themes}


def image_of(item: Path | tuple[Path, str]) -> np.ndarray | None:
    try:
        if isinstance(item, tuple):
            return pair_fonts.render(*item, size=SIZE)
        if item.suffix == ".svg":
            return svg_image(item)
        return decode_image(item.read_bytes(), SIZE)
    except Exception as exc:  # noqa: BLE001 - one unreadable drawing is skipped
        logger.info("skipped %s: %s", item, exc)
        return None


def near_eval(images: np.ndarray, tolerance: float = 0.02) -> np.ndarray:
    """True where an image's 16x16 thumbnail is within tolerance (mean abs, 0-1) of an
    evaluation icon's: the same drawing shipped by another theme stays out."""
    import faiss
    from _common import pixels

    paths, _ = quality_data.icon_set()
    evals = np.stack([decode_image(p.read_bytes(), SIZE) for p in paths])
    index = faiss.IndexFlatL2(16 * 16 * 3)
    index.add(pixels(evals, 16))
    dist, _ = index.search(pixels(images, 16), 1)
    return np.sqrt(dist[:, 0] / (16 * 16 * 3)) < tolerance


def build(npm_root: Path) -> dict[str, np.ndarray]:
    root = quality_data.fetch(list(PAIR_THEMES) + pair_fonts.FONT_PACKAGES)
    groups = {**theme_groups(root), **pair_fonts.font_groups(root)}
    for name, version in NPM_SETS.items():
        groups |= {f"npm:{name}:{k}": v for k, v in npm_groups(npm_root, name, version).items()}
    images, ids, names, kinds = [], [], [], []
    from tqdm import tqdm

    rng = np.random.default_rng(0)
    for key, items in tqdm(sorted(groups.items()), desc="pairs", unit="group"):
        if len(items) > MAX_GROUP:
            items = [items[i] for i in sorted(rng.choice(len(items), MAX_GROUP, replace=False))]
        drawn = [im for im in map(image_of, items) if im is not None]
        if len(drawn) >= 2:
            images += drawn
            ids += [len(names)] * len(drawn)
            names.append(key)
    images, ids = np.stack(images), np.asarray(ids, np.int32)
    leaked = near_eval(images)
    logger.info("dropped %d images near an evaluation icon", leaked.sum())
    images, ids = images[~leaked], ids[~leaked]
    alive = np.flatnonzero(np.bincount(ids, minlength=len(names)) >= 2)
    keep = np.isin(ids, alive)
    remap = np.full(len(names), -1)
    remap[alive] = np.arange(len(alive))
    kinds = [names[i].split(":")[0] for i in alive]
    packages = {**_debian_versions(list(PAIR_THEMES) + pair_fonts.FONT_PACKAGES),
                **{f"npm:{k}": v for k, v in NPM_SETS.items()}}
    return {"images": images[keep], "groups": remap[ids[keep]].astype(np.int32),
            "names": np.asarray([names[i] for i in alive]),
            "meta": np.asarray(json.dumps({
                "packages": packages, "held_out": f"npm:{HELD_OUT[0]}@{HELD_OUT[1]}",
                "dropped_near_eval": int(leaked.sum()),
                "by_kind": {k: kinds.count(k) for k in sorted(set(kinds))}}))}


def _debian_versions(packages: list[str]) -> dict[str, str]:
    debs = quality_data.cache_dir() / "debs"
    out = {}
    for package in packages:
        found = sorted(debs.glob(f"{package}_*.deb"))
        out[package] = found[0].name.split("_")[1].replace("%3a", ":") if found else "?"
    return out


def load(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(images, group ids, meta) of a built pairs file."""
    data = np.load(path, allow_pickle=False)
    return data["images"], data["groups"], json.loads(str(data["meta"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".devdata/pairs.npz")
    parser.add_argument("--npm", default=".devdata/npm")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    arrays = build(Path(args.npm))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **arrays)
    meta = json.loads(str(arrays["meta"]))
    print(json.dumps({"out": args.out, "images": len(arrays["images"]),
                      "groups": len(arrays["names"]), **meta}, indent=2))


if __name__ == "__main__":
    main()
