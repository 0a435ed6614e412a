"""Large canvas: seconds per iteration and peak memory for a 2048 x 2048 fit (issue 3: within 4 GB of RAM).

    .venv/bin/python benchmarks/bench_large_canvas.py [--size 2048] [--strokes 50000] [--iters 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
from pathlib import Path

from strokeopt.image import load_grayscale
from strokeopt.optimise import FitConfig, fit_strokes

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "astronaut.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--strokes", type=int, default=50_000)
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()
    target = load_grayscale(PHOTO, args.size)
    result = fit_strokes(target, FitConfig(strokes=args.strokes, iters=args.iters, stroke_width_px=1.5, progress=False))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.size} x {args.size}, {args.strokes} lines of 1.5 px, {args.iters} iterations: "
          f"{statistics.median(result.step_seconds):.2f} s per iteration (median), peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
