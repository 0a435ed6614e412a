"""`strokebot batch` throughput: pictures per minute with 1 and 2 local workers, and on a local Ray cluster.

    .venv/bin/python benchmarks/bench_batch.py [--images 6] [--workers 1 2] [--ray] [--rounds 1] [--json PATH]
                                               [-- FIT OPTIONS]

The pictures are ``--images`` different crops (60 % of each side, at offsets across the picture) of
examples/astronaut.png. Each configuration is one `strokebot batch IN -o NEW_FOLDER --quiet --device cpu
[--workers N | --ray local] FIT OPTIONS` run as a user runs it, in a fresh process, timed from launch to exit
(torch imported by the parent, workers spawned or Ray started, every picture fitted and planned and written).
Pictures per minute are the pictures over that wall time; "batch's own" is what the command reports, from
the first picture sent to the last one written. The strokes of every configuration are compared byte for
byte (the same seed must give the same strokes whatever runs them). With ``--rounds R`` every configuration
runs R times, the configurations taking turns (on a shared machine the load changes from minute to minute);
the table gives each configuration's median and its range.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "astronaut.png"
STROKEBOT = Path(sys.executable).parent / "strokebot"  # the command a user runs, from this venv
OWN_RATE = re.compile(r"\(([\d.]+) images/min\)")


def make_pictures(folder: Path, count: int) -> list[Path]:
    """``count`` crops of the example photograph, each 60 % of its sides, at offsets spread across it."""
    folder.mkdir(parents=True)
    photo = Image.open(EXAMPLE).convert("RGB")
    side_w, side_h = int(photo.width * 0.6), int(photo.height * 0.6)
    paths = []
    for i in range(count):
        fx = (i % 3) / 2
        fy = (i // 3 % 2)
        x, y = int(fx * (photo.width - side_w)), int(fy * (photo.height - side_h))
        path = folder / f"crop{i}.png"
        photo.crop((x, y, x + side_w, y + side_h)).save(path)
        paths.append(path)
    return paths


def run_batch(in_dir: Path, out_dir: Path, how: list[str], fit: list[str]) -> dict:
    """One whole `strokebot batch` command: wall seconds, pictures per minute, the command's own rate."""
    command = [str(STROKEBOT), "batch", str(in_dir), "-o", str(out_dir), "--quiet", "--device", "cpu", *how, *fit]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall_s = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    images = len(list(in_dir.iterdir()))
    own = OWN_RATE.search(done.stdout)
    return {"how": " ".join(how), "wall_s": round(wall_s, 2), "images": images,
            "images_per_min": round(60 * images / wall_s, 2),
            "own_images_per_min": float(own.group(1)) if own else None, "said": done.stderr.splitlines()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--ray", action="store_true", help="also run on a local Ray cluster (--ray local)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each configuration, taking turns")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("fit", nargs="*", help="fit options after --, e.g. -- --strokes 500 --iters 100")
    args = parser.parse_args()
    configs = [["--workers", str(n)] for n in args.workers] + ([["--ray", "local"]] if args.ray else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        in_dir = Path(tmp) / "in"
        make_pictures(in_dir, args.images)
        svgs = {}
        for round_ in range(args.rounds):
            for i, how in enumerate(configs):
                out_dir = Path(tmp) / f"out{round_}-{i}"
                row = run_batch(in_dir, out_dir, how, args.fit)
                rows.append(row)
                svgs[(round_, row["how"])] = {p.parent.name: p.read_bytes() for p in sorted(out_dir.glob("*/strokes.svg"))}
                print(f"{row['how']:>14}: {row['wall_s']:7.1f} s, {row['images_per_min']:6.2f} images/min "
                      f"(batch's own {row['own_images_per_min']}) | {row['said']}", flush=True)
    same = all(s == next(iter(svgs.values())) for s in svgs.values())
    print(f"same strokes in every configuration: {same}")
    fit = " ".join(args.fit) or "the fit defaults (derived from the profile's pen and paper for each picture)"
    print(f"{args.images} pictures, {fit}, {os.cpu_count()} cores, {args.rounds} round(s)")
    print("| how | wall s, median (range) | images/min, median (range) | batch's own images/min, median |")
    print("|---|---:|---:|---:|")
    for how in configs:
        mine = [row for row in rows if row["how"] == " ".join(how)]
        wall = sorted(row["wall_s"] for row in mine)
        rate = sorted(row["images_per_min"] for row in mine)
        own = statistics.median(row["own_images_per_min"] for row in mine)
        print(f"| `{' '.join(how)}` | {statistics.median(wall):.1f} ({wall[0]:.1f}-{wall[-1]:.1f}) | "
              f"{statistics.median(rate):.2f} ({rate[0]:.2f}-{rate[-1]:.2f}) | {own:.2f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"fit": args.fit, "rows": rows, "same_strokes": same}, indent=2) + "\n")
    if not same:
        raise SystemExit("the strokes differ between configurations")


if __name__ == "__main__":
    main()
