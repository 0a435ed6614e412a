"""``strokebot calibrate``: draw a test sheet, print a reference board, measure a scan or photo of the sheet.

Each subcommand is one function here; the work lives in ``calibration`` (pattern, board, measure,
corrections), which is imported when a subcommand runs, so that other commands start without OpenCV.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from pathlib import Path

import click
import numpy as np
from PIL import Image

from calibration import load_profile
from strokebot.cli_options import FiniteFloatRange
from strokebot.files import check_output_file, write_json_atomic, write_png_atomic, write_text_atomic

SHEET_SUFFIXES = (".svg", ".gcode", ".nc", ".g")


class CalibrateFailure(ValueError):
    """A calibrate run that could not do what was asked; its message is the one line the user sees."""


def _distinct(*paths: Path) -> None:
    """Refuse, before any work, outputs that cannot be written or that name one file twice."""
    seen: set[Path] = set()
    for path in paths:
        check_output_file(path)
        if path.resolve() in seen:
            raise CalibrateFailure(f"{path} is named for two outputs; give each output its own file")
        seen.add(path.resolve())


@click.group()
def calibrate() -> None:
    """Calibrate a plotter: draw a test sheet, measure a scan or photo of it, get what the machine does.

    \b
    strokebot calibrate pattern -o sheet.gcode --profile mine.toml   # also writes sheet.json
    strokebot calibrate board -o board.svg                           # for photos: print at 100 %
    strokebot calibrate measure scan.png --pattern sheet.json --scan-dpi 600 -o corrections.toml
    strokebot calibrate measure photo.jpg --pattern sheet.json -o corrections.toml
    strokebot calibrate apply corrections.toml --profile mine.toml --write   # then plan as usual
    strokebot calibrate photo sheet.gcode -o photo.png --profile sim.toml    # a simulated machine's sheet
    """


@calibrate.command("pattern")
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The sheet to draw: .svg (page = the profile's drawing area, in mm) or .gcode (planned for the "
                   "profile). sheet.json, what `measure` compares against, is written beside it (same name, .json).")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Machine profile (TOML); the sheet fills its drawing area and uses its first pen. "
                   "Default: the built-in A4 GRBL servo plotter.")
@click.option("--date", default=None, help="Date on the label (default: today).")
def pattern_command(out_file: Path, profile_path: Path | None, date: str | None) -> None:
    """Draw a calibration test sheet sized to the work area.

    Corner markers (ArUco, hatched), a grid of crosses, squares with diagonals, line pairs approached from
    opposite directions (backlash), a pen-width comb, a tone ladder of hatch densities and a label with the
    profile's name and the date.
    """
    from calibration.pattern import build_pattern
    from calibration.sheet import pattern_to_json, pattern_to_svg

    if out_file.suffix.lower() not in SHEET_SUFFIXES:
        raise CalibrateFailure(f"{out_file} must end in .svg or .gcode (the sheet as SVG, or as G-code for the profile)")
    json_file = out_file.with_suffix(".json")
    _distinct(out_file, json_file)
    profile = load_profile(profile_path)
    pattern = build_pattern(profile, date)
    svg = pattern_to_svg(pattern)
    if out_file.suffix.lower() == ".svg":
        write_text_atomic(out_file, svg)
        what = "SVG: plan it with `strokebot plan` and the same profile (the page maps 1:1)"
    else:
        lines = _plan_sheet(svg, pattern, profile)
        write_text_atomic(out_file, "\n".join(lines) + "\n")
        what = f"{len(lines)} lines of G-code"
    record = pattern_to_json(pattern)
    if profile.calibration is not None:  # measure passes it on: apply composes what is left with it
        record["drawn_with"] = dataclasses.asdict(profile.calibration.machine)
    write_json_atomic(json_file, record)
    click.echo(f"{len(pattern.crosses)} crosses, {len(pattern.strokes())} strokes for {profile.name} -> {out_file} "
               f"({what}); nominal geometry -> {json_file}")


def _plan_sheet(svg: str, pattern, profile) -> list[str]:
    """The sheet planned to G-code through the project's path, checked to land 1:1 on the machine."""
    from gcode import PlanOptions
    from strokebot.pipeline import plan_svg

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "calibration-sheet.svg"
        path.write_text(svg, encoding="utf-8")
        run = plan_svg(path, profile, PlanOptions())
    placement = run.placement
    for cross in pattern.crosses:
        page_mm = np.array(profile.machine_to_page(*cross.centre_mm))
        page_px = complex(*(page_mm - profile.work_area.margin_mm)) * 96 / 25.4
        landed = placement.to_machine(np.array([page_px]), profile)[0]
        if abs(landed - complex(*cross.centre_mm)) > 0.01:
            raise CalibrateFailure(f"the planner moved the sheet (a cross meant for {cross.centre_mm.round(3).tolist()} "
                                   f"lands at {landed:.3f}); please report this")
    return run.lines


@calibrate.command("board")
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="SVG to print on an ordinary printer, at 100 %.")
def board_command(out_file: Path) -> None:
    """Write the reference board for photos: a ChArUco board of 20 mm squares, to print and lay beside the sheet.

    Print it at 100 % (no "fit to page") and check its 100 mm ruler line with a ruler: the board is the
    scale a photo is measured against.
    """
    from calibration.board import BOARD_SQUARES, SQUARE_MM, board_size_mm, board_svg

    _distinct(out_file)
    write_text_atomic(out_file, board_svg())
    w, h = board_size_mm()
    click.echo(f"ChArUco board {BOARD_SQUARES[0]} x {BOARD_SQUARES[1]} squares of {SQUARE_MM:g} mm ({w:g} x {h:g} mm) "
               f"-> {out_file}: print at 100 % and check the 100 mm ruler line")


@calibrate.command("measure")
@click.argument("picture", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--pattern", "pattern_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="sheet.json, written by `calibrate pattern` beside the sheet that was drawn.")
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="corrections.toml to write: what the machine does (scale, skew, backlash, pen width, tone).")
@click.option("--scan-dpi", type=FiniteFloatRange(50, 4800), default=None,
              help="PICTURE is a flatbed scan at this resolution (its absolute scale). Without it, PICTURE is a "
                   "photo that shows the printed reference board (`calibrate board`) beside the sheet.")
@click.option("--residuals", "residuals_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Picture of each cross's residual as an arrow. Default: OUT with _residuals.png.")
def measure_command(picture: Path, pattern_file: Path, out_file: Path, scan_dpi: float | None,
                    residuals_file: Path | None) -> None:
    """Measure a scan or photo of the drawn sheet and write what the machine does to OUT.

    The crosses are located to a fraction of a pixel in a frame the machine did not draw: the scanner's
    pixels (--scan-dpi) or the printed reference board in the photo. The sheet's own rotation and position
    there are fitted and discarded. Prints the fitted values with uncertainties and the residual RMS.
    """
    from calibration.corrections import corrections_table, corrections_toml, residual_picture
    from calibration.measure import measure, photo_reference, scan_reference
    from calibration.sheet import read_pattern_file

    residuals_file = residuals_file or out_file.with_name(out_file.stem + "_residuals.png")
    _distinct(out_file, residuals_file)
    pattern = read_pattern_file(pattern_file)
    gray = _read_gray(picture)
    reference = scan_reference(scan_dpi) if scan_dpi is not None else photo_reference(gray)
    measured = measure(gray, pattern, reference, name=str(picture))
    click.echo(corrections_table(measured))
    write_text_atomic(out_file, corrections_toml(measured, picture.name, _drawn_with(pattern_file)))
    write_png_atomic(residuals_file, Image.fromarray(residual_picture(measured)))
    click.echo(f"-> {out_file}, {residuals_file}")


def _drawn_with(pattern_file: Path):
    """The correction the sheet was planned with, as sheet.json records it (None without one)."""
    from calibration.machine import MachineError

    drawn = json.loads(pattern_file.read_text("utf-8")).get("drawn_with")
    try:
        return MachineError(**{k: float(v) for k, v in drawn.items()}) if isinstance(drawn, dict) else None
    except (TypeError, ValueError):
        raise CalibrateFailure(f"{pattern_file}: its drawn_with record is damaged; draw the sheet again") from None


@calibrate.command("apply")
@click.argument("corrections_file", metavar="CORRECTIONS", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The machine profile (TOML) to merge CORRECTIONS into: the one the sheet was drawn with.")
@click.option("--write", is_flag=True,
              help="Replace the profile file with the merged one (atomically; the old one is kept as PROFILE.bak). "
                   "Without it nothing is written: the merged profile is printed, to read or redirect.")
def apply_command(corrections_file: Path, profile_path: Path, write: bool) -> None:
    """Merge a measured corrections.toml into a machine profile, so that plan corrects every move.

    The profile gets a [calibration] table (scale, skew, backlash, the first pen's width as measured, and
    the tone curve); its other text and comments stay as they were. When the sheet was drawn
    with a correction already (sheet.json records it), what is left is composed with it. A correction
    that would command moves outside the work area is refused, and the profile left untouched.

    \b
    strokebot calibrate apply corrections.toml --profile mine.toml          # print the merged profile
    strokebot calibrate apply corrections.toml --profile mine.toml --write  # update mine.toml
    """
    from calibration import ProfileError
    from calibration.apply import merge_into_profile, read_corrections

    corrections = read_corrections(_read_text(corrections_file), str(corrections_file))
    original = _read_text(profile_path)
    try:
        text, profile = merge_into_profile(original, corrections, str(profile_path), corrections_file.name)
    except ProfileError as exc:
        raise CalibrateFailure(f"{exc} ({profile_path} is not changed)") from None
    m = profile.calibration.machine
    summary = (f"scale {m.scale_x:.5f} x {m.scale_y:.5f}, skew {m.skew_deg:.3f}°, backlash {m.backlash_x_mm:.3f} / "
               f"{m.backlash_y_mm:.3f} mm, pen {profile.calibration.pen_width_mm:g} mm")
    if not write:
        click.echo(text, nl=False)
        click.echo(f"{profile_path} not changed ({summary}); add --write to update it", err=True)
        return
    backup = profile_path.with_name(profile_path.name + ".bak")
    check_output_file(backup)
    write_text_atomic(backup, original)
    write_text_atomic(profile_path, text)
    click.echo(f"{profile_path} now corrects for {summary} (the old profile is in {backup})")


@calibrate.command("photo")
@click.argument("sheet", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The picture to write (.png).")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Machine profile (TOML); its [sim] table is the miscalibrated machine that draws SHEET.")
@click.option("--scan-dpi", type=FiniteFloatRange(50, 600), default=None,
              help="A flatbed scan at this resolution instead of a photo with the reference board.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Seed of the picture's noise and texture.")
def photo_command(sheet: Path, out_file: Path, profile_path: Path | None, scan_dpi: float | None, seed: int) -> None:
    """Draw SHEET (G-code) on the simulated plotter and write a photo (or scan) of the drawn page.

    The simulated board plays the profile's [sim] machine (scale, skew, backlash, pen width and darkness,
    pen-down lag); the photo shows the sheet beside the printed reference board, at an angle, turned, with
    paper texture, uneven light, blur and noise. Measure it as a real one: `calibrate measure`.
    """
    from calibration import as_simulated
    from calibration.board import board_image
    from calibration.photo import rasterise, synth_photo, synth_scan
    from strokebot.pipeline import simulate_program

    _distinct(out_file)
    profile = load_profile(profile_path)
    lines = _read_text(sheet).splitlines()
    simulator, problems = simulate_program(lines, profile)
    if problems:
        raise CalibrateFailure(f"the simulated plotter refused {sheet}: {problems[0]}")
    pen = as_simulated(profile).pens[0]
    ink = 1.0 - int(pen.color[1:3], 16) / 255.0
    px_per_mm = 5.0
    page = rasterise([np.asarray(s) for s in simulator.strokes], profile.work_area, px_per_mm, pen.width_mm, 0.9 * ink)
    if scan_dpi is not None:
        picture = synth_scan(page, px_per_mm, scan_dpi, seed=seed)
    else:
        h, w = page.shape
        picture = synth_photo(page, px_per_mm, board_image(px_per_mm), (int(w * 1.6), int(h * 1.1)), seed=seed)
    write_png_atomic(out_file, Image.fromarray(picture))
    kind = f"scan at {scan_dpi:g} dpi" if scan_dpi is not None else "photo beside the reference board"
    click.echo(f"{len(simulator.strokes)} strokes drawn by the simulated {profile.name} -> {out_file} ({kind})")


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrateFailure(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _read_gray(path: Path) -> np.ndarray:
    """The picture as 8-bit grey; a file that is no picture is refused in one line."""
    try:
        with Image.open(path) as img:
            img.load()
            gray = np.asarray(img.convert("L"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise CalibrateFailure(f"the picture {path} has more than {Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels: "
                               "scan at 600 dpi or less") from None
    except (OSError, ValueError) as exc:
        raise CalibrateFailure(f"cannot read the picture {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if min(gray.shape) < 64 or not math.isfinite(float(gray.mean())):
        raise CalibrateFailure(f"the picture {path} is {gray.shape[1]} x {gray.shape[0]} px: too small to measure")
    return gray
