"""`strokebot draw PHOTO` as a user runs it, at the settings derived from each profile, against fixed settings.

Each run is the whole command in a fresh process (`.venv/bin/strokebot draw PHOTO -o DIR --quiet`, fit, plan,
stream to the simulated plotter on a pty, drawing, preview), timed by the wall clock and by the CPU seconds
of the process (user + system: on a loaded machine the wall time is other people's too; on an idle one it
is at most about the CPU time, as the fit's kernels use both cores). Reported per run:

- likeness of the simulated drawing to the picture (``strokebot.likeness``): ``view_ssim`` and ``edge_corr``,
  both at 2 px/mm on the paper after a 1 mm blur;
- ``fidelity_ssim``: the preview's middle panel (the fitted strokes where the pen is >= 1.5 px) against the
  simulated drawing; ``fit_fidelity_ssim``: the optimiser's own render against it, at the fit resolution;
- strokes, fit size, the pen's width in fit pixels, the estimated plot time.

    .venv/bin/python benchmarks/bench_defaults.py                       # every shipped profile on the demo
    .venv/bin/python benchmarks/bench_defaults.py --photos benchmarks/photos/*.png --profiles default \\
        --settings derived "--size 128 --strokes 2000 --iters 300"      # derived against the old defaults
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES = {
    "default": ROOT / "calibration" / "profiles" / "a4_grbl_servo.toml",
    **{p.stem: p for p in sorted((ROOT / "examples" / "profiles").glob("*.toml"))},
}
STROKEBOT = Path(sys.executable).with_name("strokebot")


def run_draw(photo: Path, profile: Path, settings: str, out: Path) -> dict:
    """One whole `strokebot draw` in a fresh process: its wall and CPU seconds and its report's numbers."""
    extra = [] if settings == "derived" else shlex.split(settings)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([str(STROKEBOT), "draw", str(photo), "-o", str(out), "--quiet", "--profile", str(profile),
                           *extra], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"strokebot draw failed: {proc.stderr.strip()}")
    report = json.loads((out / "report.json").read_text())
    fit = report["fit"]
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "load_1min": round(os.getloadavg()[0], 1),
        **report["likeness"],
        "fidelity_ssim": report["fidelity_ssim"],
        "fit_fidelity_ssim": report["fit_fidelity_ssim"],
        "strokes": fit["strokes"],
        "size_px": max(fit["size_px"]),
        "pen_px": fit["pen_width_px"],
        "fit_s": fit["seconds"],
        "plot_min": round(report["plan"]["est_seconds"] / 60),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", type=Path, default=[ROOT / "examples" / "astronaut.png"])
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), help=f"names: {', '.join(PROFILES)}")
    parser.add_argument("--settings", nargs="+", default=["derived"],
                        help="'derived' (no options) or a string of draw options, e.g. '--size 128 --strokes 2000'")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    rows = []
    print("| photo | profile | settings | wall s | CPU s | load | view SSIM | edge r | fidelity | fit fidelity | "
          "strokes | size px | pen px | plot min |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for photo in args.photos:
            for name in args.profiles:
                for settings in args.settings:
                    out = Path(tmp) / f"{photo.stem}-{name}-{len(rows)}"
                    row = {"photo": photo.name, "profile": name, "settings": settings,
                           **run_draw(photo, PROFILES[name], settings, out)}
                    rows.append(row)
                    print(f"| {photo.name} | {name} | {settings} | {row['wall_s']} | {row['cpu_s']} | "
                          f"{row['load_1min']} | {row['view_ssim']:.3f} | {row['edge_corr']:.3f} | "
                          f"{row['fidelity_ssim']:.3f} | {row['fit_fidelity_ssim']:.3f} | {row['strokes']} | "
                          f"{row['size_px']} | {row['pen_px']:.2f} | {row['plot_min']} |", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
