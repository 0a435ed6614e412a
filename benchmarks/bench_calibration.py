"""The calibration loop on a simulated miscalibrated A4 plotter, as a user runs it: accuracy before and after, and time.

    .venv/bin/python benchmarks/bench_calibration.py [--json PATH] [--keep DIR]

The plotter is the built-in A4 profile with a [sim] table: scale 1.01 x 0.995, Y leaning 0.5°, 0.3 mm of
backlash on both axes, a 0.7 mm pen labelled 0.5 mm. Each step is the `strokebot` console script in a
fresh process (so every time includes start-up): pattern -> photo (the simulated plotter draws the sheet,
then a phone photo of it beside the reference board) -> measure -> apply --write -> pattern -> photo ->
measure. It reports the crosses' distance from their commanded places (placement removed:
``[fit] nominal_rms_mm``) in both rounds, what was recovered, and SSIM between the render of a drawing (a
star of spokes and rings, rendered with the pen the profile says) and the simulated plotter's drawing of
it, uncorrected and corrected.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from calibration import as_calibrated, default_profile, load_profile, profile_to_toml
from robot import render_strokes
from strokebot import pipeline

BIN = Path(sys.executable).parent
SIM = {"scale_x": 1.01, "scale_y": 0.995, "skew_deg": 0.5, "backlash_x_mm": 0.3, "backlash_y_mm": 0.3,
       "pen_width_mm": 0.7}
PX_PER_MM = 4.0


def step(timings: list, *args: str) -> None:
    """Run one strokebot command in a fresh process, timed."""
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "strokebot"), *args], check=True, stdout=subprocess.DEVNULL)
    timings.append((" ".join(args[:2]), time.perf_counter() - t0))


def star_svg(path: Path) -> Path:
    t = np.linspace(0, 2 * np.pi, 37)
    spokes = "".join(f'<path d="M 95 140 L {95 + 80 * np.cos(a):.2f} {140 + 120 * np.sin(a):.2f}"/>' for a in t[::2])
    rings = "".join(f'<path d="M {95 + r:.1f} 140 ' + " ".join(f"L {95 + r * np.cos(a):.2f} {140 + 1.4 * r * np.sin(a):.2f}"
                                                          for a in t[1:]) + '"/>' for r in (20, 40, 60, 80))
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="190mm" height="277mm" viewBox="0 0 190 277">'
                    f'<g fill="none" stroke="black" stroke-width="0.5">{spokes}{rings}</g></svg>')
    return path


def ssim_of_drawing(svg: Path, profile) -> float:
    """SSIM(render with the profile's pen, the simulated plotter's drawing) of ``svg`` planned for ``profile``."""
    exact = replace(profile, sim=None, calibration=None)
    intended = pipeline.simulate_program(pipeline.plan_svg(svg, exact).lines, exact)[0].strokes
    render = np.asarray(render_strokes(intended, as_calibrated(profile), PX_PER_MM), dtype=float) / 255
    simulator, _ = pipeline.simulate_program(pipeline.plan_svg(svg, profile).lines, profile)
    drawing = np.asarray(pipeline.render_drawing(simulator.strokes, profile, PX_PER_MM), dtype=float) / 255
    return float(structural_similarity(render, drawing, data_range=1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep its files")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-calibration-"))
    folder.mkdir(parents=True, exist_ok=True)
    mine = folder / "mine.toml"
    mine.write_text(profile_to_toml(default_profile()) + "\n[sim]\n" + "".join(f"{k} = {v}\n" for k, v in SIM.items()))
    uncorrected = load_profile(mine)
    timings: list = []
    rounds = []
    t0 = time.perf_counter()
    for n in (1, 2):
        sheet, photo, corrections = folder / f"sheet{n}.gcode", folder / f"photo{n}.png", folder / f"corrections{n}.toml"
        step(timings, "calibrate", "pattern", "-o", str(sheet), "--profile", str(mine))
        step(timings, "calibrate", "photo", str(sheet), "-o", str(photo), "--profile", str(mine), "--seed", str(n))
        step(timings, "calibrate", "measure", str(photo), "--pattern", str(sheet.with_suffix(".json")),
             "-o", str(corrections))
        rounds.append(tomllib.loads(corrections.read_text()))
        if n == 1:
            step(timings, "calibrate", "apply", str(corrections), "--profile", str(mine), "--write")
    total = time.perf_counter() - t0
    corrected = load_profile(mine)
    svg = star_svg(folder / "star.svg")
    c = corrected.calibration
    result = {
        "nominal_rms_mm_before": rounds[0]["fit"]["nominal_rms_mm"],
        "nominal_rms_mm_after": rounds[1]["fit"]["nominal_rms_mm"],
        "affine_rms_mm_before": rounds[0]["fit"]["rms_mm"],
        "affine_rms_mm_after": rounds[1]["fit"]["rms_mm"],
        "recovered": {"scale_x": c.machine.scale_x, "scale_y": c.machine.scale_y, "skew_deg": c.machine.skew_deg,
                      "backlash_x_mm": c.machine.backlash_x_mm, "backlash_y_mm": c.machine.backlash_y_mm,
                      "pen_width_mm": c.pen_width_mm},
        "left_after": {"scale_x": rounds[1]["affine"]["scale_x"], "scale_y": rounds[1]["affine"]["scale_y"],
                       "skew_deg": rounds[1]["affine"]["skew_deg"], "backlash_x_mm": rounds[1]["backlash"]["x_mm"],
                       "backlash_y_mm": rounds[1]["backlash"]["y_mm"]},
        "ssim_uncorrected": round(ssim_of_drawing(svg, uncorrected), 4),
        "ssim_corrected": round(ssim_of_drawing(svg, corrected), 4),
        "seconds": {**{f"{i + 1}. {name}": round(s, 2) for i, (name, s) in enumerate(timings)}, "loop": round(total, 2)},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
