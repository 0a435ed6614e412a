"""Start-up: seconds from launch to exit of `strokebot --help`, `plan --help`, `fit --help`, beside `vpype --help`.

    .venv/bin/python benchmarks/bench_startup.py [--runs 5] [--json PATH]

Each command runs as the user runs it (the installed console script) in a fresh process, --runs times after one
untimed warm-up run (which fills the bytecode caches); the table gives the median and the fastest run, and
whether the command imported torch (asked of a separate probe run, so the timed runs carry no probe).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("strokebot", "--help"),
    ("strokebot", "plan", "--help"),
    ("strokebot", "fit", "--help"),
    ("vpype", "--help"),
)
PROBE = ("import atexit, sys\natexit.register(lambda: print('torch' in sys.modules, file=sys.stderr))\n"
         "from strokebot.cli import main\nmain(sys.argv[1:])")


def wall_seconds(command: tuple[str, ...]) -> float:
    """Seconds one fresh run of ``command`` takes, launch to exit."""
    t0 = time.perf_counter()
    subprocess.run([str(BIN / command[0]), *command[1:]], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def imports_torch(command: tuple[str, ...]) -> bool | None:
    """Whether a strokebot command imports torch (None for other programs)."""
    if command[0] != "strokebot":
        return None
    done = subprocess.run([sys.executable, "-c", PROBE, *command[1:]], check=True, capture_output=True, text=True)
    return done.stderr.strip().splitlines()[-1] == "True"


def main() -> None:
    """Time each command and print a table (and JSON, with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed fresh processes per command")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    rows = []
    for command in COMMANDS:
        wall_seconds(command)  # warm-up: bytecode caches, the disk cache
        times = [wall_seconds(command) for _ in range(args.runs)]
        rows.append({"command": " ".join(command), "median_s": round(statistics.median(times), 3),
                     "min_s": round(min(times), 3), "torch": imports_torch(command)})
    print(f"{'command':<26} {'median s':>9} {'min s':>7}  torch")
    for row in rows:
        torch = "-" if row["torch"] is None else ("yes" if row["torch"] else "no")
        print(f"{row['command']:<26} {row['median_s']:>9.3f} {row['min_s']:>7.3f}  {torch}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
