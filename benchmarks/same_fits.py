"""Do two versions of the code fit the same strokes? Save every array of ten fits, then compare bit for bit.

The fits cover every primitive, pens, paint, "over" compositing, learnable widths and a 60-iteration
1000-line fit at 256 px with its respawns. For a change that must not change results:

    git stash; .venv/bin/python benchmarks/same_fits.py save /tmp/before.npz
    git stash pop; .venv/bin/python benchmarks/same_fits.py compare /tmp/before.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from strokeopt.image import load_grayscale, load_rgb
from strokeopt.optimise import FitConfig, fit_strokes

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "astronaut.png"
FIELDS = ("points", "pens", "colors", "opacity", "widths_px")


def cases() -> dict[str, tuple[np.ndarray, FitConfig]]:
    """Name -> (target, settings) of each fit."""
    gray, rgb, large = load_grayscale(PHOTO, 96), load_rgb(PHOTO, 64), load_grayscale(PHOTO, 256)
    quiet = dict(progress=False)
    return {
        "line": (gray, FitConfig(strokes=300, iters=50, loss="mse", stroke_width_px=0.67, **quiet)),
        "cubic": (gray, FitConfig(strokes=150, primitive="cubic", iters=50, loss="mse", seed=4, **quiet)),
        "dot": (gray, FitConfig(strokes=600, primitive="dot", iters=50, loss="tone", **quiet)),
        "quadratic": (gray, FitConfig(strokes=100, primitive="quadratic", iters=30, **quiet)),
        "catmull": (gray, FitConfig(strokes=80, primitive="catmull-rom", iters=30, **quiet)),
        "widths": (gray, FitConfig(strokes=200, iters=40, width_range_px=(0.5, 3.0), **quiet)),
        "pens": (rgb, FitConfig(strokes=200, iters=40, colour="pens", pen_colors=("#000000", "#ff0000", "#0000ff"),
                                pen_widths_px=(1.0, 1.5, 2.0), **quiet)),
        "paint": (rgb, FitConfig(strokes=150, iters=40, colour="paint", **quiet)),
        "over": (rgb, FitConfig(strokes=120, iters=40, colour="paint", compositing="over", **quiet)),
        "line256": (large, FitConfig(strokes=1000, iters=60, loss="mse", stroke_width_px=0.67, **quiet)),
    }


def fit_arrays() -> dict[str, np.ndarray]:
    """Every field of each fit's strokes, its final render and its losses, as 'case.field'."""
    arrays = {}
    for name, (target, config) in cases().items():
        result = fit_strokes(target, config)
        for field in FIELDS:
            value = getattr(result.strokes, field)
            if value is not None:
                arrays[f"{name}.{field}"] = np.asarray(value)
        arrays[f"{name}.render"] = result.render
        arrays[f"{name}.losses"] = np.asarray(result.losses)
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("save", "compare"))
    parser.add_argument("file", type=Path, help=".npz file to write or to compare against")
    args = parser.parse_args()
    arrays = fit_arrays()
    if args.mode == "save":
        np.savez(args.file, **arrays)
        print(f"saved {len(arrays)} arrays to {args.file}")
        return
    saved = np.load(args.file)
    differ = sorted(set(saved.files) ^ set(arrays)) + [k for k in saved.files if k in arrays
                                                        and not np.array_equal(saved[k], arrays[k])]
    if differ:
        sys.exit(f"{len(differ)} of {len(arrays)} arrays differ: {', '.join(differ)}")
    print(f"all {len(arrays)} arrays identical")


if __name__ == "__main__":
    main()
