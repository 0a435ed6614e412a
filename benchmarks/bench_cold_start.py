"""Cold start: seconds from launch to exit of a `strokebot fit`, with numba's kernel caches empty and filled.

    .venv/bin/python benchmarks/bench_cold_start.py [--runs 3] [--image PATH] [--json PATH]

Each command runs as the user runs it (the installed console script) in a fresh process. Cold: numba's
on-disk cache is empty (each run points NUMBA_CACHE_DIR at a new empty directory, which is what deleting the
``*.nbi``/``*.nbc`` files does, without touching the checkout's caches), so every kernel is compiled; this is
the first fit after an install without `make`'s warm-up. Warm: the caches where `make` leaves them (the
``__pycache__`` beside each module), filled by one untimed run first. The table gives the median and the
fastest of --runs runs of each, on the CPU (the numba kernels are the CPU path).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
FIT = ("--size", "128", "--strokes", "500", "--iters", "20", "--device", "cpu", "--quiet")
COMMANDS: tuple[tuple[str, ...], ...] = ((), ("--renderer", "neural:guided", "--primitive", "quadratic"))


def wall_seconds(image: Path, extra: tuple[str, ...], cold: bool) -> float:
    """Seconds one fresh `strokebot fit` takes, launch to exit; ``cold``: with an empty numba cache."""
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        if cold:
            env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "numba")
        command = [str(BIN / "strokebot"), "fit", str(image), "-o", str(Path(tmp) / "out"), *FIT, *extra]
        t0 = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        return time.perf_counter() - t0


def main() -> None:
    """Time each command cold and warm and print a table (and JSON, with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed fresh processes per command and state")
    parser.add_argument("--image", type=Path, default=ROOT / "examples" / "astronaut.png")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    rows = []
    for extra in COMMANDS:
        wall_seconds(args.image, extra, cold=False)  # fills the caches (and the bytecode and disk caches)
        for state in ("cold", "warm"):
            times = [wall_seconds(args.image, extra, cold=state == "cold") for _ in range(args.runs)]
            rows.append({"command": " ".join(("fit", *FIT[:6], *extra)), "state": state,
                         "median_s": round(statistics.median(times), 2), "min_s": round(min(times), 2)})
    width = max(len(row["command"]) for row in rows)
    print(f"{'command':<{width}} {'state':<5} {'median s':>9} {'min s':>7}")
    for row in rows:
        print(f"{row['command']:<{width}} {row['state']:<5} {row['median_s']:>9.2f} {row['min_s']:>7.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
