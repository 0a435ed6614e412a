"""Plot times against GRBL 1.1h itself: the estimate and the simulated board beside the firmware's seconds.

    .venv/bin/python benchmarks/bench_firmware_timing.py           # benchmarks/data/grbl_1.1h/firmware_times.json
    .venv/bin/python benchmarks/bench_firmware_timing.py --firmware-times FILE [--programs DIR]
    .venv/bin/python benchmarks/bench_firmware_timing.py --speed 100000

The firmware's times are a JSON object: program file name -> {"machine_seconds": S, ...}, the seconds from
the first step to the last that the real firmware took (grbl-sim: GRBL 1.1h built for the host, run in
lock-step, i.e. on an infinitely fast CPU), with the settings of the built-in profile ($110/$111 =
6000 mm/min, $120/$121 = 500 mm/s^2, $100/$101 = 80 steps/mm, $11 = 0.01), as ``run_grbl.py time``
prints them. The programs are read from ``--programs`` (by default the folder of the times file).
For each program the table gives the firmware's seconds, the estimate of ``strokebot plan``
(``gcode.stats.compute_stats``: GRBL's 15-block look-ahead), the simulated board (``robot.boards.grbl_board`` on an
injected clock, each line sent the moment the one before is answered, so the planner stays full), the
same estimate with no limit on the look-ahead, and each one's ratio to the firmware.

``--speed N`` times ``compute_stats`` on a generated program of N short moves with pen lifts between
strokes of 100: cold (a fresh process, imports included) and warm (best of three in this one).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from calibration import MachineProfile, default_profile, load_profile
from gcode.stats import compute_stats
from robot.boards.board import SimSettings
from robot.boards.grbl_board import GrblSimulator

FIRMWARE_TIMES = Path(__file__).resolve().parent / "data" / "grbl_1.1h" / "firmware_times.json"
UNLIMITED_BLOCKS = 10**9


class Clock:
    """An injected clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulated_seconds(lines: list[str], profile: MachineProfile) -> float:
    """Machine seconds of a run on the simulated GRBL board with its planner kept full."""
    clock = Clock()
    board = GrblSimulator(profile, SimSettings(time_scale=1.0), clock=clock)
    for line in lines:
        answer = board.receive(line.encode() + b"\n")
        while not answer.endswith(b"ok\r\n"):  # a full planner, or a stop, holds the answer back
            clock.now += board.due_in_s()
            answer += board.poll()
    while (due := board.due_in_s()) is not None:
        clock.now += due
        board.poll()
    return clock.now


def accuracy_table(times: dict[str, float], programs: Path, profile: MachineProfile) -> list[str]:
    """One row a program: firmware, estimate, simulator and unlimited look-ahead seconds, and ratios."""
    rows = [f"{'program':<20} {'firmware s':>11} {'estimate s':>11} {'simulator s':>12} {'unlimited s':>12}"
            f" {'est/fw':>7} {'sim/fw':>7} {'unl/fw':>7}"]
    for name, firmware_s in times.items():
        lines = (programs / name).read_text().splitlines()
        estimate = compute_stats(lines, profile).est_seconds
        unlimited = compute_stats(lines, profile, planner_blocks=UNLIMITED_BLOCKS).est_seconds
        simulated = simulated_seconds(lines, profile)
        rows.append(f"{name:<20} {firmware_s:>11.3f} {estimate:>11.3f} {simulated:>12.3f} {unlimited:>12.3f}"
                    f" {estimate / firmware_s:>7.3f} {simulated / firmware_s:>7.3f} {unlimited / firmware_s:>7.3f}")
    return rows


def short_moves_program(moves: int) -> list[str]:
    """Strokes of 100 moves of 0.5 mm wandering over an A4 page, a pen lift and a travel between them."""
    lines = ["G21", "G90", "M5", "G4 P0.150"]
    for stroke in range(moves // 100):
        x, y, heading = 20.0 + (stroke * 37) % 170, 20.0 + (stroke * 53) % 250, stroke * 0.7
        lines += [f"G0 X{x:.3f} Y{y:.3f}", "M3 S1000", "G4 P0.150"]
        for k in range(100):
            heading += 0.3 if (k // 7) % 2 else -0.25
            x, y = x + 0.5 * math.cos(heading), y + 0.5 * math.sin(heading)
            lines.append(f"G1 X{x:.3f} Y{y:.3f} F3000")
        lines += ["M5", "G4 P0.150"]
    return lines + ["G0 X0 Y0", "M2"]


def speed_rows(moves: int) -> list[str]:
    """compute_stats on ``moves`` short moves: cold in a fresh process, and warm here."""
    code = (
        "import sys, time\nt0 = time.perf_counter()\nsys.path.insert(0, 'benchmarks')\n"
        "from bench_firmware_timing import short_moves_program\nfrom calibration import default_profile\n"
        "from gcode.stats import compute_stats\n"
        f"compute_stats(short_moves_program({moves}), default_profile())\nprint(time.perf_counter() - t0)"
    )
    cold = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    lines, profile = short_moves_program(moves), default_profile()
    warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        compute_stats(lines, profile)
        warm.append(time.perf_counter() - t0)
    return [f"compute_stats, {moves} moves ({len(lines)} lines): cold {cold:.2f} s (imports and program"
            f" generation included), warm {min(warm):.2f} s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--firmware-times", type=Path, default=FIRMWARE_TIMES,
                        help='JSON: program file -> {"machine_seconds": S}')
    parser.add_argument("--programs", type=Path, help="folder of the programs (default: the times file's)")
    parser.add_argument("--profile", type=Path, help="machine profile TOML (default: the built-in one)")
    parser.add_argument("--speed", type=int, metavar="N", help="time compute_stats on N short moves instead")
    args = parser.parse_args()
    if args.speed:
        print("\n".join(speed_rows(args.speed)))
        return
    recorded = json.loads(args.firmware_times.read_text())
    times = {name: run["machine_seconds"] for name, run in recorded.items() if not name.startswith("_")}
    profile = load_profile(args.profile) if args.profile else default_profile()
    print("\n".join(accuracy_table(times, args.programs or args.firmware_times.parent, profile)))


if __name__ == "__main__":
    main()
