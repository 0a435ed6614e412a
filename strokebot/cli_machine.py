"""The machine commands: ``plan``, ``simulate``, ``send``, ``ports`` and ``profile``; none of them imports torch."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click
from serial.tools import list_ports

from calibration import MachineProfile, load_profile, profile_to_toml
from gcode import ROTATIONS, PlanOptions, compute_stats
from gcode.program_file import read_program_file
from robot import (
    PROTOCOLS,
    ConnectOptions,
    PtyPlotter,
    SimSettings,
    StreamInterrupted,
    StreamReport,
    simulator_for,
)
from robot.host.journal import Journal
from strokebot import jobs, pipeline
from strokebot.cli_common import StrokebotFailure, check_baud, check_output_files, profile_option
from strokebot.cli_options import FiniteFloatRange
from strokebot.files import write_json_atomic, write_png_atomic, write_text_atomic

DEFAULT_PX_PER_MM = 4.0


# a simulated drawing is rendered in float64 RGB, 24 bytes a pixel: 12000 px a side is 3.5 GB at most, and an
# A4 page at the finest --px-per-mm (40) fits
MAX_PNG_SIDE_PX = 12_000


def _read_gcode(path: Path) -> list[str]:
    return read_program_file(path)  # GcodeFileError (a ValueError) names the file and the line


@click.command()
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
@profile_option
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
    check_output_files(out_file, stats_file)
    run = pipeline.plan_svg(svg, profile, PlanOptions(**kwargs))
    write_text_atomic(out_file, "\n".join(run.lines) + "\n")
    if stats_file is not None:
        write_json_atomic(stats_file, run.stats.to_dict())
    s = run.stats
    click.echo(f"{s.lines} lines: draw {s.draw_mm:.0f} mm, travel {s.travel_mm:.0f} mm, {s.pen_lifts} pen lifts, "
               f"about {s.est_seconds / 60:.1f} min -> {out_file}")


@click.command()
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
@profile_option
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
    check_output_files(out_file)
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


@click.command()
@click.argument("gcode_file", type=click.Path(path_type=Path), required=False)
@click.option("--port", required=True, help="Serial device (e.g. /dev/ttyUSB0), a pyserial URL, or 'sim'.")
@click.option("--protocol", type=click.Choice(PROTOCOLS), default=None,
              help="How lines are sent: GRBL character counting, GRBL send-response, or Marlin's numbered lines. "
                   "Default: grbl-counting for a GRBL profile, marlin for a Marlin one.")
@click.option("--baud", type=int, default=115200, show_default=True, callback=check_baud,
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
@profile_option
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
        warn_unchecked(jobs.plan_stream(lines, None, profile).warnings)
        click.echo(f"checked {len(lines)} lines: no errors")
        return
    checked = jobs.plan_stream(lines, journal if resume_path is not None else None, profile)
    warn_unchecked(checked.warnings)
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
    report, _ = stream_job_at_terminal(lines, port, profile, journal, checked, baud=baud, progress=not quiet, protocol=protocol,
                            connect=connect)
    if not report.ok:
        jobs.raise_for_report(report, f"; {jobs.job_summary(lines, journal, profile, port)}")
    skipped = f" ({report.lines_skipped} with nothing to send)" if report.lines_skipped else ""
    click.echo(f"sent {report.lines_sent} lines, {report.lines_acknowledged} acknowledged{skipped} in "
               f"{report.seconds:.1f} s")


def stream_job_at_terminal(
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


def warn_unchecked(warnings: Sequence[str]) -> None:
    """Say on stderr which lines go to the board unchecked, and why that is safe."""
    for warning in warnings:
        click.echo(f"strokebot: warning: {warning}", err=True)


def _ask_for_pen(message: str) -> None:
    """At a pen change (M0) on a real plotter: say which pen, wait for Enter, then the stream resumes."""
    if not sys.stdin.isatty():
        raise StrokebotFailure(f"the plotter paused ({message or 'M0'}) and there is no terminal to confirm on")
    click.prompt(f"{message or 'program paused'}: press Enter when ready", default="", show_default=False,
                 prompt_suffix=" ", err=True)


@click.command()
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


@click.group()
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
