"""The held-out cross-style set: one npm icon set no pretraining pair touches (issue 28).

bootstrap-icons draws about 650 icons twice, outlined (`NAME.svg`) and filled
(`NAME-fill.svg`). Queries are the outlined drawings; the gallery is the filled drawings
(first, in the queries' order, so query i's answer is gallery item i) followed by the
icons drawn only once, as distractors. A hit is the same icon name in the other style:
top-1 and recall@10, as the near-duplicate set scores it. pair_data.py never reads this
package (pair_data.HELD_OUT).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import pair_data  # noqa: E402

from lookalike.common.decode import decode_image  # noqa: E402

NPM_ROOT = Path(__file__).resolve().parents[1] / ".devdata" / "npm"
RASTER = 128  # SVGs become PNG files of this size, as a collection would hold them


def _png(path: Path) -> bytes:
    import cairosvg

    return cairosvg.svg2png(url=str(path), output_width=RASTER, output_height=RASTER)


def cross_style_files(package: Path) -> tuple[list[Path], list[Path], list[str]]:
    """(gallery SVGs, query SVGs, query names) of an unpacked bootstrap-icons package:
    gallery[i] is query[i] filled; the gallery goes on with the icons drawn only once."""
    folder = package / "icons"
    stems = {p.stem for p in folder.glob("*.svg")}
    keep = {s for s in stems if not pair_data.NOT_PAIRS.search(s)}
    paired = sorted(s for s in keep if s + "-fill" in keep)
    alone = sorted(s for s in keep if s not in paired and s.removesuffix("-fill") not in paired)
    gallery = [folder / f"{s}-fill.svg" for s in paired] + [folder / f"{s}.svg" for s in alone]
    return gallery, [folder / f"{s}.svg" for s in paired], paired


def cross_style_set(npm_root: Path = NPM_ROOT) -> tuple[list[bytes], list[bytes], list[str]]:
    """(gallery PNG files, query PNG files, query names), rasterised at RASTER pixels."""
    package = pair_data.npm_package(npm_root, *pair_data.HELD_OUT)
    gallery, queries, names = cross_style_files(package)
    return [_png(p) for p in gallery], [_png(p) for p in queries], names


def decoded(files: list[bytes], size: int = 64) -> np.ndarray:
    return np.stack([decode_image(b, size) for b in files])
