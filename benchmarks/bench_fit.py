"""Fit benchmark: seconds per iteration, peak memory and quality for each primitive on several photos.

Each (photo, primitive, strokes) run happens in a fresh process so that its peak RSS is its own.
Quality is measured against the resized grayscale target, plain and at viewing distance (both images
blurred with a Gaussian of sigma 2 px, which is how hatching reads as tone).

    .venv/bin/python benchmarks/bench_fit.py                     # the table in docs/benchmarks.md
    .venv/bin/python benchmarks/bench_fit.py --iters 50 --loss mse --photos examples/astronaut.png
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_PHOTOS = [
    ROOT / "examples" / "astronaut.png",
    *sorted(p for p in (ROOT / "benchmarks" / "photos").iterdir() if p.suffix.lower() in PHOTO_SUFFIXES),
]
DEFAULT_RUNS = ["line:1000", "cubic:500", "dot:2000"]


def run_one(photo: str, primitive: str, strokes: int, args: dict) -> dict:
    """Fit in this (fresh) process and return the numbers of one table row."""
    import numpy as np
    import torch

    from strokeopt.image import load_grayscale
    from strokeopt.metrics import gaussian_blur, psnr, ssim
    from strokeopt.optimise import FitConfig, fit_strokes

    target = load_grayscale(photo, args["size"])
    config = FitConfig(
        strokes=strokes,
        primitive=primitive,
        iters=args["iters"],
        stroke_width_px=args["width"],
        loss=args["loss"],
        seed=args["seed"],
        progress=False,
    )
    result = fit_strokes(target, config)

    def blur(a: np.ndarray) -> np.ndarray:
        return gaussian_blur(torch.as_tensor(a, dtype=torch.float64), 2.0).numpy()

    flat = np.full_like(target, target.mean())
    return {
        "photo": Path(photo).stem,
        "primitive": primitive,
        "strokes": strokes,
        "s_per_iter": statistics.median(result.step_seconds[1:] or result.step_seconds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "psnr": psnr(result.render, target),
        "ssim": ssim(result.render, target),
        "psnr_blur2": psnr(blur(result.render), blur(target)),
        "ssim_blur2": ssim(blur(result.render), blur(target)),
        "flat_psnr_blur2": psnr(blur(flat), blur(target)),
        "flat_ssim_blur2": ssim(blur(flat), blur(target)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", nargs="+", default=[str(p) for p in DEFAULT_PHOTOS])
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="primitive:strokes pairs")
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--width", type=float, default=1.5, help="stroke width in px")
    parser.add_argument("--loss", default="tone")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = {"iters": args.iters, "size": args.size, "width": args.width, "loss": args.loss, "seed": args.seed}

    print(f"{args.size} x {args.size} grayscale, stroke width {args.width} px, loss {args.loss}, "
          f"{args.iters} iterations, seed {args.seed}")
    print("| photo | primitive | strokes | s/iter (median) | peak RSS MB | PSNR | SSIM | blurred PSNR | blurred SSIM "
          "| flat grey: blurred PSNR / SSIM |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        for photo in args.photos:
            for run in args.runs:
                primitive, strokes = run.split(":")
                r = pool.apply(run_one, (photo, primitive, int(strokes), settings))
                print(f"| {r['photo']} | {r['primitive']} | {r['strokes']} | {r['s_per_iter']:.4f} | "
                      f"{r['peak_rss_mb']:.0f} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['psnr_blur2']:.2f} | "
                      f"{r['ssim_blur2']:.3f} | {r['flat_psnr_blur2']:.2f} / {r['flat_ssim_blur2']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
