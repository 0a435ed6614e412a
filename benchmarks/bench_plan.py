"""Pen-up travel ordering: gcode.order.order_paths against vpype linesort (greedy, --two-opt) and LKH-3;
and `strokebot plan` as a whole command against `vpype read IN.svg linesort write OUT.svg`.

    .venv/bin/python benchmarks/bench_plan.py [--sizes 1000 10000 100000] [--seed 0] [--json PATH]
    .venv/bin/python benchmarks/bench_plan.py --whole-command [--lines 100000] [--svg DEMO.svg ...] [--repeat 2]

Ordering alone: N random straight lines, 1-5 mm long in uniform random directions, centres uniform in a
200 x 200 mm square, pen starting at (0, 0). Travel is pen-up distance from the start; seconds time the
ordering alone. LKH-3 (PyPI elkai) gives a near-optimal reference for small N; it is used only here.

Whole command: each command runs in a fresh process (wall time of the process, imports included), ours
and vpype's taking turns, on an SVG of N such lines (written here, one <path> each) and on any --svg given.
Pen-up travel of both outputs is measured the same way, in machine mm: vpype's SVG is read back and laid out
on the default profile's machine as `plan` lays out its input (the same page, so the same placement), then
travel is summed from the machine origin through its lines in order and back, as `plan --stats` counts ours.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import vpype as vp
from vpype_cli.operations import linesort

from calibration import default_profile
from gcode.layout import layout_to_work_area
from gcode.order import EXACT_MAX, order_paths, travel_mm
from gcode.svg import read_svg

BIN = Path(sys.executable).parent  # the environment's scripts: strokebot and vpype
REPO = Path(__file__).resolve().parents[1]

LINESORT = linesort.callback.__wrapped__  # the function the `linesort` command runs on each layer


def random_lines(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the benchmark's N random lines."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.0, 200.0, n) + 1j * rng.uniform(0.0, 200.0, n)
    half = 0.5 * rng.uniform(1.0, 5.0, n) * np.exp(1j * rng.uniform(0.0, 2.0 * np.pi, n))
    return centres - half, centres + half


def compile_seconds() -> tuple[float, float]:
    """(import seconds, first-call seconds) of gcode.order in a fresh process with an empty numba cache."""
    code = (
        "import time, numpy as np\nt0 = time.perf_counter()\nfrom gcode.order import EXACT_MAX, order_paths\n"
        "t1 = time.perf_counter()\nz = np.arange(EXACT_MAX + 10) * (1 + 1j)\norder_paths(z, z + 1)\n"
        "order_paths(z[:3], z[:3] + 1)\nprint(t1 - t0, time.perf_counter() - t1)"
    )
    with tempfile.TemporaryDirectory() as cache:
        done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "NUMBA_CACHE_DIR": cache},
                              capture_output=True, text=True, check=True)
    imported, first_call = map(float, done.stdout.split())
    return imported, first_call


def run_ours(starts: np.ndarray, ends: np.ndarray, seed: int) -> tuple[float, float]:
    """(travel mm, seconds) of order_paths."""
    t0 = time.perf_counter()
    order, reversed_ = order_paths(starts, ends, 0j, seed)
    seconds = time.perf_counter() - t0
    return travel_mm(starts, ends, order, reversed_), seconds


def run_vpype(starts: np.ndarray, ends: np.ndarray, two_opt: bool) -> tuple[float, float]:
    """(travel mm, seconds) of vpype's linesort, led by a zero-length line at the origin, where the pen starts.

    linesort keeps its first line first and goes on from there. Travel is measured from the origin over the
    lines in vpype's order without that marker (if --two-opt moves it away from the front, leaving it out can
    only shorten vpype's travel). vpype drops one-point lines, hence two points.
    """
    lines = vp.LineCollection([np.array([0j, 0j])] + [np.array([s, e]) for s, e in zip(starts, ends)])
    t0 = time.perf_counter()
    result = LINESORT(lines, no_flip=False, two_opt=two_opt, passes=250)
    seconds = time.perf_counter() - t0
    drawn = [line for line in result if line[0] != 0 or line[-1] != 0]
    assert len(drawn) == len(starts)
    entries = np.array([line[0] for line in drawn])
    exits = np.array([line[-1] for line in drawn])
    travel = abs(entries[0]) + np.abs(entries[1:] - exits[:-1]).sum()
    return float(travel), seconds


def run_lkh(starts: np.ndarray, ends: np.ndarray, runs: int) -> tuple[float, float]:
    """(travel mm, seconds) of LKH-3 on the ordering as a symmetric TSP over line endpoints.

    Nodes: 0 the origin, 1 a dummy at zero distance from every endpoint, then each line's start and end.
    The edges origin-dummy and start-end of every line must be in the tour, so the tour read from the origin
    away from the dummy is an open path that draws each line in one go. They cost 0 and every other edge gets
    FORCE extra: any tour pays FORCE on exactly N + 1 edges if it keeps them all and on more if it does not.
    (elkai's FIXED_EDGES_SECTION crashes, and it reads only FULL_MATRIX.) Distances are integer micrometres.
    """
    import elkai._elkai  # benchmark only

    force = 10_000_000  # 10 m: more than any tour could save by splitting a line; x 100 (LKH precision) < 2**31
    n = len(starts)
    points = np.empty(2 * n + 2, dtype=np.complex128)
    points[0] = 0j
    points[1] = 0j
    points[2::2] = starts
    points[3::2] = ends
    weights = np.rint(np.abs(points[:, None] - points[None, :]) * 1000.0).astype(np.int64) + force
    weights[1, :] = force
    weights[:, 1] = force
    pairs = np.arange(0, 2 * n + 2, 2)
    weights[pairs, pairs + 1] = 0
    weights[pairs + 1, pairs] = 0
    np.fill_diagonal(weights, 0)
    rows = [" ".join(map(str, row)) for row in weights]
    problem = (
        f"TYPE : TSP\nDIMENSION : {2 * n + 2}\nEDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_FORMAT : FULL_MATRIX\n"
        "EDGE_WEIGHT_SECTION\n" + "\n".join(rows) + "\n"
    )
    params = f"RUNS = {runs}\nPROBLEM_FILE = :stdin:\nSEED = 1\nTRACE_LEVEL = 0\n"
    t0 = time.perf_counter()
    tour = [node - 1 for node in elkai._elkai.solve_problem(params, problem)]
    seconds = time.perf_counter() - t0
    k = tour.index(0)
    tour = tour[k:] + tour[:k]
    if tour[1] == 1:  # read the cycle away from the dummy
        tour = [0] + tour[:0:-1]
    assert tour[-1] == 1 and sorted(tour) == list(range(2 * n + 2))
    nodes = np.array(tour[1:-1]) - 2
    assert np.all(nodes[0::2] >> 1 == nodes[1::2] >> 1), "LKH broke a fixed line edge"
    order = nodes[0::2] >> 1
    reversed_ = (nodes[0::2] & 1).astype(bool)
    assert sorted(order) == list(range(n))
    return travel_mm(starts, ends, order, reversed_), seconds


def write_lines_svg(path: Path, n: int, seed: int) -> None:
    """The N random lines of the ordering benchmark as an SVG page of 200 x 200 mm, one <path> a line."""
    starts, ends = random_lines(n, seed)
    paths = "\n".join(f'<path d="M {a.real:.4f},{a.imag:.4f} L {b.real:.4f},{b.imag:.4f}"/>'
                      for a, b in zip(starts, ends))
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="200mm" '
                    f'height="200mm" viewBox="0 0 200 200">\n<g fill="none" stroke="black">\n{paths}\n</g>\n</svg>\n')


def timed(command: list[str]) -> float:
    """Wall seconds of ``command`` in a fresh process, which must succeed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def svg_travel_mm(svg: Path) -> float:
    """Pen-up mm of an SVG's lines in file order, placed as `plan` places them: each layer (pen) from the
    machine origin and back, as a `plan` program parks the pen there for each pen change."""
    placed, _ = layout_to_work_area(read_svg(svg), default_profile())
    travel = 0.0
    for layer in placed.layers.values():
        entries = np.array([0j] + [line[0] for line in layer])
        exits = np.array([0j] + [line[-1] for line in layer])
        travel += float(np.abs(np.roll(entries, -1) - exits).sum())
    return travel


def whole_command(svgs: list[Path], repeat: int, out_dir: Path) -> list[dict]:
    """Rows of wall seconds (each run) and pen-up travel mm for `strokebot plan` and vpype on each SVG."""
    rows = []
    for svg in svgs:
        gcode, stats, vpype_svg = out_dir / "out.gcode", out_dir / "stats.json", out_dir / "vpype.svg"
        ours = [str(BIN / "strokebot"), "plan", str(svg), "-o", str(gcode), "--stats", str(stats)]
        theirs = [str(BIN / "vpype"), "read", str(svg), "linesort", "write", str(vpype_svg)]
        times: dict[str, list[float]] = {"strokebot plan": [], "vpype read linesort write": []}
        for _ in range(repeat):  # taking turns, so that both see the same load
            times["strokebot plan"].append(timed(ours))
            times["vpype read linesort write"].append(timed(theirs))
        travel = {"strokebot plan": json.loads(stats.read_text())["travel_mm"],
                  "vpype read linesort write": svg_travel_mm(vpype_svg)}
        for method, seconds in times.items():
            rows.append({"svg": svg.name, "method": method, "seconds": seconds, "travel_mm": travel[method]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--seed", type=int, default=0, help="instance seed (order_paths gets the same seed)")
    parser.add_argument("--lkh-max", type=int, default=1000, help="run LKH-3 only up to this N")
    parser.add_argument("--lkh-runs", type=int, default=1)
    parser.add_argument("--two-opt-max", type=int, default=10_000,
                        help="run vpype linesort --two-opt only up to this N (its passes are O(N^2) each)")
    parser.add_argument("--whole-command", action="store_true",
                        help="time `strokebot plan` and `vpype read linesort write` as whole commands instead")
    parser.add_argument("--lines", type=int, default=100_000, help="whole command: random lines in the SVG (0: none)")
    parser.add_argument("--svg", type=Path, action="append", default=[], help="whole command: also this SVG")
    parser.add_argument("--repeat", type=int, default=2, help="whole command: runs of each command")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if args.whole_command:
        with tempfile.TemporaryDirectory() as tmp:
            svgs = list(args.svg)
            if args.lines:
                svgs.insert(0, Path(tmp) / f"lines{args.lines}.svg")
                write_lines_svg(svgs[0], args.lines, args.seed)
            rows = whole_command(svgs, args.repeat, Path(tmp))
        print("| SVG | command | wall seconds (each run) | pen-up travel mm |")
        print("|---|---|---|---:|")
        for row in rows:
            runs = " / ".join(f"{s:.2f}" for s in row["seconds"])
            print(f"| {row['svg']} | {row['method']} | {runs} | {row['travel_mm']:.0f} |")
        if args.json:
            args.json.write_text(json.dumps({"seed": args.seed, "rows": rows}, indent=2))
        return
    ordering_alone(args)


def ordering_alone(args: argparse.Namespace) -> None:
    """The ordering benchmark: order_paths, vpype linesort (greedy, --two-opt) and LKH-3 on N random lines."""
    imported, compiled = compile_seconds()
    print(f"gcode.order in a fresh process with an empty numba cache: import {imported:.2f} s, "
          f"first calls (numba compiles) {compiled:.2f} s")
    starts, ends = random_lines(EXACT_MAX + 10, args.seed)
    t0 = time.perf_counter()
    order_paths(starts, ends)
    order_paths(starts[:3], ends[:3])
    first_call = time.perf_counter() - t0
    print(f"first calls in this process (numba cache loaded or compiled): {first_call:.2f} s; "
          "the timings below are warm\n")

    have_lkh = importlib.util.find_spec("elkai") is not None
    if not have_lkh:
        print("elkai is not installed (`pip install elkai==2.0.1`): no LKH-3 reference, ratios to vpype linesort\n")
    rows = []
    for n in args.sizes:
        starts, ends = random_lines(n, args.seed)
        results = {"ours (order_paths)": run_ours(starts, ends, args.seed),
                   "vpype linesort": run_vpype(starts, ends, two_opt=False)}
        if n <= args.two_opt_max:
            results["vpype linesort --two-opt"] = run_vpype(starts, ends, two_opt=True)
        if n <= args.lkh_max and have_lkh:
            results["LKH-3 (elkai)"] = run_lkh(starts, ends, args.lkh_runs)
        reference = results.get("LKH-3 (elkai)", results["vpype linesort"])[0]
        for method, (travel, seconds) in results.items():
            rows.append({"n": n, "method": method, "travel_mm": travel, "seconds": seconds,
                         "ratio": travel / reference,
                         "ratio_to": "LKH-3" if "LKH-3 (elkai)" in results else "vpype linesort"})
        if n > args.two_opt_max:
            rows.append({"n": n, "method": "vpype linesort --two-opt", "travel_mm": None, "seconds": None,
                         "ratio": None, "ratio_to": f"skipped: N > --two-opt-max {args.two_opt_max}"})

    print(f"seed {args.seed}; pen starts at (0, 0); lines 1-5 mm in a 200 x 200 mm square\n")
    print("| N | method | travel mm | ratio | seconds |")
    print("|---:|---|---:|---|---:|")
    for row in rows:
        if row["travel_mm"] is None:
            print(f"| {row['n']} | {row['method']} | — | {row['ratio_to']} | — |")
        else:
            print(f"| {row['n']} | {row['method']} | {row['travel_mm']:.1f} | "
                  f"{row['ratio']:.3f} × {row['ratio_to']} | {row['seconds']:.3f} |")
    if args.json:
        summary = {"seed": args.seed, "compile_seconds": compiled, "first_call_seconds": first_call, "rows": rows}
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
