"""Stroke dataset speed: `strokebot painter dataset` as users run it, in a fresh process, per worker count.

    .venv/bin/python benchmarks/bench_dataset.py [--strokes 20000] [--size 64] [--workers 1 2] [--json PATH]

Each run paints a new dataset into an empty temporary folder; seconds are the whole command's wall time
(interpreter start, imports, painting, compression, writing), so strokes/s is what a user sees. The first run
is cold (imports and libmypaint not in the page cache yet, unless something ran before), the second warm.
A third run of the same command on the finished folder times a resume that has nothing left to paint
(every shard's SHA-256 is checked). Target: >= 500 strokes/s at 64 x 64 with both cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("strokebot")  # the installed command, as users run it
COMMAND = [str(SCRIPT) if SCRIPT.is_file() else "strokebot", "painter", "dataset"]


def run_command(out_dir: Path, strokes: int, size: int, workers: int) -> tuple[float, str]:
    """(wall seconds, the command's summary line) of one `strokebot painter dataset` run."""
    args = [*COMMAND, "-o", str(out_dir), "--strokes", str(strokes), "--size", str(size),
            "--workers", str(workers), "--quiet"]
    t0 = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"bench_dataset: the command failed: {done.stderr.strip()}")
    return seconds, done.stdout.strip()


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=64, help="canvas side in pixels")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_dataset.") as tmp:
        for workers in args.workers:
            for run in ("cold", "warm", "resume, nothing to paint"):
                out_dir = Path(tmp) / f"w{workers}"
                if run == "warm":
                    shutil.rmtree(out_dir)
                seconds, summary = run_command(out_dir, args.strokes, args.size, workers)
                rows.append({"workers": workers, "run": run, "strokes": args.strokes, "seconds": seconds,
                             "strokes_per_s": args.strokes / seconds, "mb": folder_mb(out_dir), "summary": summary})

    print(f"`strokebot painter dataset --strokes {args.strokes} --size {args.size}` in a fresh process; "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at the end\n")
    print("| workers | run | seconds | strokes/s | MB on disk | the command's own line |")
    print("|---:|---|---:|---:|---:|---|")
    for row in rows:
        rate = "—" if row["run"].startswith("resume") else f"{row['strokes_per_s']:.0f}"
        print(f"| {row['workers']} | {row['run']} | {row['seconds']:.2f} | {rate} | {row['mb']:.1f} | "
              f"{row['summary'].split(' -> ')[0]} |")
    if args.json:
        args.json.write_text(json.dumps({"strokes": args.strokes, "size": args.size, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
