"""Fit benchmark: seconds per iteration, peak memory and quality for each primitive on several photos.

Each (photo, primitive, strokes) run happens in a fresh process so that its peak RSS is its own.
Quality is measured against the resized grayscale target, plain and at viewing distance (both images
blurred with a Gaussian of sigma 2 px, which is how hatching reads as tone).

    .venv/bin/python benchmarks/bench_fit.py                     # the table in docs/benchmarks.md
    .venv/bin/python benchmarks/bench_fit.py --iters 50 --loss mse --photos examples/astronaut.png
    .venv/bin/python benchmarks/bench_fit.py --whole-command          # `strokebot fit` as a user runs it

--whole-command times `.venv/bin/strokebot fit` in a fresh process per run: the whole command's wall time
(torch import, image load, set-up, the fit with its respawns, writing the outputs) and CPU seconds (user +
system: less bent by other load than wall time), and fit.json's own seconds (the fit loop), each per
iteration, beside the median step of the same fit run in-process and what that fit spent beyond that
many median steps (its fixed costs: set-up, the first step's extra, respawns; one process, so less bent
by load than comparing processes). Warm
runs use the numba caches `make` leaves (median of 2); a cold run points NUMBA_CACHE_DIR at an empty
directory, so every kernel it needs compiles (one run, at the shortest --whole-iters only, to keep the
mode under ~10 minutes on two cores; --cold-all for every iteration count).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import json
import os
import statistics
import subprocess
import tempfile
import time
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

    from strokeopt.image import load_grayscale
    from strokeopt.metrics import blur_array, psnr, ssim
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
        return blur_array(a, 2.0)

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


def step_median(primitive: str, strokes: int, iters: int, size: int, width: float | None,
                loss: str) -> tuple[float, float]:
    """Median step seconds (first step left out) of the fit `strokebot fit` runs, in this (fresh) process,
    and the seconds that fit spent beyond ``iters`` median steps (set-up, the first step's extra, respawns)."""
    from calibration import default_profile
    from strokebot.fitting import FitOptions, fit_image

    options = FitOptions(strokes=strokes, primitive=primitive, iters=iters, size_px=size, device="cpu",
                         loss=loss, stroke_width_px=width, progress=False)
    result = fit_image(ROOT / "examples" / "astronaut.png", default_profile(), options).result
    median = statistics.median(result.step_seconds[1:] or result.step_seconds)
    return median, result.seconds - iters * median


def time_command(primitive: str, strokes: int, iters: int, size: int, width: float | None, loss: str,
                 cold: bool) -> tuple[float, float, dict]:
    """Wall and CPU (user + system) seconds of one `strokebot fit` in a fresh process, and its fit.json."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if cold:
            env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "numba-cache")  # empty: every kernel compiles
        command = [str(ROOT / ".venv" / "bin" / "strokebot"), "fit", str(ROOT / "examples" / "astronaut.png"),
                   "-o", str(Path(tmp) / "out"), "--size", str(size), "--strokes", str(strokes),
                   "--primitive", primitive, "--iters", str(iters), "--loss", loss, "--quiet", "--device", "cpu"]
        if width is not None:
            command += ["--stroke-width-px", str(width)]
        start, cpu_start = time.perf_counter(), _children_cpu_s()
        subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        wall_s, cpu_s = time.perf_counter() - start, _children_cpu_s() - cpu_start
        return wall_s, cpu_s, json.loads((Path(tmp) / "out" / "fit.json").read_text())


def _children_cpu_s() -> float:
    """CPU seconds of the finished child processes: less bent by other load than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def whole_command(args: argparse.Namespace) -> None:
    """The --whole-command table: `strokebot fit` as a user runs it, cold and warm."""
    print(f"`strokebot fit examples/astronaut.png --size {args.size} --loss {args.loss} --device cpu --quiet`, "
          f"seed 0; warm: median of {args.warm_runs}; cold: NUMBA_CACHE_DIR empty, 1 run")
    print("| primitive | strokes | iters | pen width px | run | whole command s | whole command CPU s | whole s/iter "
          "| fit.json s/iter | step median s | fit s beyond iters x median |")
    print("|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|")
    context = multiprocessing.get_context("spawn")
    cold_iters = set(args.whole_iters) if args.cold_all else {min(args.whole_iters)}
    for iters in args.whole_iters:
        for run in args.runs:
            primitive, strokes = run.split(":")
            for width in (None, 1.5):
                with context.Pool(1, maxtasksperchild=1) as pool:
                    step, beyond = pool.apply(step_median,
                                              (primitive, int(strokes), iters, args.size, width, args.loss))
                kinds = [("warm", False)] + ([("cold", True)] if iters in cold_iters else [])
                for kind, cold in kinds:
                    runs = [time_command(primitive, int(strokes), iters, args.size, width, args.loss, cold)
                            for _ in range(1 if cold else args.warm_runs)]
                    wall_s = statistics.median(r[0] for r in runs)
                    cpu_s = statistics.median(r[1] for r in runs)
                    loop_s = statistics.median(r[2]["seconds"] for r in runs)
                    pen = f"{runs[0][2]['pen_width_px']:.2f}" + (" (profile)" if width is None else "")
                    print(f"| {primitive} | {strokes} | {iters} | {pen} | {kind} | {wall_s:.2f} | {cpu_s:.2f} | "
                          f"{wall_s / iters:.4f} | {loop_s / iters:.4f} | {step:.4f} | {beyond:.2f} |",
                          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", nargs="+", default=[str(p) for p in DEFAULT_PHOTOS])
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="primitive:strokes pairs")
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--width", type=float, default=1.5, help="stroke width in px")
    parser.add_argument("--loss", default="tone")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--whole-command", action="store_true",
                        help="time `strokebot fit` as a user runs it (see the module docstring)")
    parser.add_argument("--whole-iters", nargs="+", type=int, default=[300, 60])
    parser.add_argument("--warm-runs", type=int, default=2)
    parser.add_argument("--cold-all", action="store_true", help="a cold run at every --whole-iters")
    args = parser.parse_args()
    if args.whole_command:
        whole_command(args)
        return
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
