"""The end-to-end pipeline as functions: image -> strokes -> SVG -> G-code -> plotter -> picture of the drawing.

Each step takes and returns plain values; the CLI only parses options, calls these and writes files.
"""

from __future__ import annotations

import os
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from calibration import MachineProfile
from gcode import PlanOptions, PlanStats, Placement, check_program, compute_stats, emit_gcode, plan_svg as plan_svg_file
from gcode.dialects import dialect_for
from gcode.emit import MAX_LINE_CHARS, sanitize_comment
from gcode.reader import strip_comment
from gcode.stats import elapsed_seconds
from robot import (
    BoardSimulator,
    ConnectOptions,
    GrblSimulator,
    PtyPlotter,
    SimSettings,
    StreamError,
    StreamReport,
    default_protocol,
    open_streamer,
    render_strokes,
    simulator_for,
)
from robot.grbl_status import MachineStatus
from robot.grbl_codes import alarm_meaning, error_meaning
from robot.journal import Journal, first_missing
from robot.marlin import NO_CHECK_MODE
from robot.resume import ResumePlan, plan_resume_missing, rewind_line, whole_program
from robot.stopping import signals_deferred
from strokebot.preview import side_by_side, to_array, to_image
from strokeopt.export import strokes_to_svg
from strokeopt.image import load_grayscale, load_rgb
from strokeopt.losses import DEFAULT_VGG_LAYERS
from strokeopt.metrics import gaussian_blur, psnr, ssim
from strokeopt.optimise import FitConfig, FitResult, fit_strokes, pick_device
from strokeopt.render import StrokeRenderer

SIM_PORT = "sim"
SIM_SUPERSAMPLE = 4  # simulated drawing pixels per fit pixel along each axis
VIEWING_BLUR_SIGMA_PX = 2.0


@dataclass(frozen=True)
class FitOptions:
    """The user's fit settings; the pen width comes from the machine profile."""

    strokes: int = 1000
    primitive: str = "line"
    iters: int = 300
    size_px: int = 128
    seed: int = 0
    device: str = "auto"
    loss: str = "tone"
    paint: bool = False  # free RGB paint per stroke (brush robots) instead of the profile's pens
    compositing: str = "ink"  # "over" for opaque paint laid in stroke order
    stroke_width_px: float | None = None  # None: the profile's first pen at the fit resolution
    width_range_px: tuple[float, float] | None = None  # learn widths within these bounds
    vgg_layers: tuple[str, ...] = DEFAULT_VGG_LAYERS
    vgg_weights: str | None = None
    renderer: str = "soft"  # the analytic soft rasteriser, or a neural painter: neural:NAME or a painter file
    brush_pressure: float = 0.8  # the pressure a neural painter's brush is held at
    progress: bool = True


@dataclass(frozen=True)
class FitRun:
    """A finished fit with what is needed to write and judge it."""

    target: np.ndarray
    result: FitResult
    mm_per_px: float
    pen_width_px: float
    svg: str
    iters: int
    loss_spec: str

    def report(self) -> dict:
        seconds = self.result.seconds
        return {
            "strokes": len(self.result.strokes),
            "primitive": self.result.strokes.primitive,
            "loss_spec": self.loss_spec,
            "iters": self.iters,
            "seconds": round(seconds, 3),
            "seconds_per_iter": round(seconds / max(1, self.iters), 5),
            "loss": self.result.losses[-1] if self.result.losses else None,
            **image_scores(self.result.render, self.target),
            "size_px": [self.result.strokes.width_px, self.result.strokes.height_px],
            "mm_per_px": round(self.mm_per_px, 5),
            "pen_width_px": round(self.pen_width_px, 4),
            "device": self.result.device,
        }


@dataclass(frozen=True)
class PlanRun:
    """G-code for a drawing, its statistics, and where the SVG page landed on the machine."""

    lines: list[str]
    stats: PlanStats
    placement: Placement


def image_scores(image: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM against the target, plain and at viewing distance (both blurred, sigma 2 px)."""

    def blur(a: np.ndarray) -> np.ndarray:
        return gaussian_blur(torch.as_tensor(a, dtype=torch.float64), VIEWING_BLUR_SIGMA_PX).numpy()

    return {
        "psnr": round(psnr(image, target), 3),
        "ssim": round(ssim(image, target), 4),
        "psnr_blur2": round(psnr(blur(image), blur(target)), 3),
        "ssim_blur2": round(ssim(blur(image), blur(target)), 4),
    }


def canvas_mm_per_px(profile: MachineProfile, width_px: int, height_px: int) -> float:
    """Millimetres per fit pixel when the canvas fills the profile's drawing area, aspect kept."""
    area = profile.work_area
    return min(area.drawing_width_mm / width_px, area.drawing_height_mm / height_px)


def colour_mode(profile: MachineProfile, paint: bool) -> str:
    """Free paint when asked; a pen palette when the machine holds several pens; else one pen on grayscale."""
    if paint:
        return "paint"
    return "pens" if len(profile.pens) > 1 else "black"


def fit_image(image_path: str | Path, profile: MachineProfile, options: FitOptions) -> FitRun:
    """Fit strokes to the picture at the widths (and, with several pens, the inks) of the profile's pens."""
    colour = colour_mode(profile, options.paint)
    load = load_grayscale if colour == "black" else load_rgb
    target = load(image_path, options.size_px)
    height, width = target.shape[-2:]
    mm_per_px = canvas_mm_per_px(profile, width, height)
    pen_width_px = options.stroke_width_px or profile.pens[0].width_mm / mm_per_px
    pens = profile.pens if colour == "pens" else ()
    config = FitConfig(
        colour=colour,
        pen_colors=tuple(pen.color for pen in pens),
        pen_widths_px=tuple(options.stroke_width_px or pen.width_mm / mm_per_px for pen in pens),
        strokes=options.strokes,
        primitive=options.primitive,
        iters=options.iters,
        stroke_width_px=pen_width_px,
        width_range_px=options.width_range_px,
        compositing=options.compositing,
        seed=options.seed,
        device=options.device,
        loss=options.loss,
        vgg_layers=options.vgg_layers,
        vgg_weights=options.vgg_weights,
        progress=options.progress,
    )
    result = fit_strokes(target, config, stroke_renderer(options, height, width, options.device))
    svg = strokes_to_svg(result.strokes, mm_per_px, profile.pens)
    return FitRun(target, result, mm_per_px, pen_width_px, svg, options.iters, options.loss)


def stroke_renderer(options: FitOptions, height_px: int, width_px: int, device: str) -> StrokeRenderer | None:
    """The renderer the options name: None for the soft rasteriser (the optimiser's default), else a painter."""
    if options.renderer == "soft":
        return None
    from strokeopt.painters.library import load_named_painter
    from strokeopt.painters.renderer import PRIMITIVES, PainterRenderer

    if options.primitive not in PRIMITIVES:
        raise ValueError(f"a neural painter paints quadratic Bézier strokes: use --primitive quadratic or line, "
                         f"not {options.primitive}")
    painter, _ = load_named_painter(options.renderer, pick_device(device))
    return PainterRenderer(painter, height_px, width_px, pressure=options.brush_pressure)


def plan_svg(svg_path: str | Path, profile: MachineProfile, options: PlanOptions = PlanOptions()) -> PlanRun:
    """Read an SVG, lay out, merge and order its lines in the work area, and write them as G-code."""
    planned = plan_svg_file(svg_path, profile, options)
    lines = emit_gcode(
        planned.document, profile, title=Path(svg_path).name, arcs=options.arcs,
        arc_tolerance_mm=options.arc_tolerance_mm,
    )
    return PlanRun(lines=lines, stats=compute_stats(lines, profile), placement=planned.placement)


def simulate_program(lines: Sequence[str], profile: MachineProfile) -> tuple[GrblSimulator, list[str]]:
    """Run a program through the simulated GRBL line by line; returns it and the answers that were not ``ok``.

    The board has homing and soft limits on and is homed first, so a move out of the work area is ALARM:2.
    """
    simulator = GrblSimulator(profile, SimSettings(homing=True, soft_limits=True))
    simulator.receive(b"$H\n")
    problems = []
    for number, line in enumerate(lines, start=1):
        answer = simulator.receive(line.encode("ascii", "replace") + b"\n").decode("ascii", "replace")
        refusals = [a for a in answer.split() if a.startswith(("error:", "ALARM:"))]
        if refusals:
            problems.append(f"line {number} ({line.strip()}): {refusals[0]} ({_meaning(refusals[0])})")
        if strip_comment(line)[0] in ("M0", "M1"):
            simulator.receive(b"~")  # a pen change: the simulated operator is ready at once
    return simulator, problems


def _meaning(answer: str) -> str:
    """What GRBL's ``error:N`` or ``ALARM:N`` means, in GRBL's words."""
    kind, _, number = answer.partition(":")
    code = int(number) if number.isdigit() else -1
    return error_meaning(code) if kind == "error" else alarm_meaning(code)


def render_drawing(
    strokes: Sequence[Sequence[tuple[float, float]]],
    profile: MachineProfile,
    px_per_mm: float,
    region_mm: tuple[float, float, float, float] | None = None,
    pens: Sequence[int] | None = None,
) -> Image.Image:
    """What the pens drew, as the page looks from above (RGB when ``pens`` gives each stroke's pen)."""
    return render_strokes(strokes, profile, px_per_mm, region_mm, stroke_pens=pens)


def check_port(port: str) -> None:
    """Fail at once, before any long work, when ``port`` is a path that is not a serial port (URLs and 'sim' pass).

    The device is opened without becoming the controlling terminal and without waiting for a carrier, and
    asked for its terminal settings: /dev/null, a file or a folder fails there, in one line.
    """
    if port == SIM_PORT or "://" in port:
        return
    try:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise StreamError(f"cannot open serial port {port}: no such device") from None
    except PermissionError:
        raise StreamError(f"cannot open serial port {port}: permission denied (on Linux, join the dialout "
                          "group)") from None
    except OSError as exc:
        raise StreamError(f"cannot open serial port {port}: {exc.strerror}") from None
    try:
        termios.tcgetattr(fd)
    except termios.error:
        raise StreamError(f"cannot use {port} as a serial port: not a terminal device") from None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class StreamPlan:
    """What a send will stream (a resumed job's preamble included), checked, and the warnings of the check."""

    resume: ResumePlan
    warnings: tuple[str, ...]


def plan_stream(lines: Sequence[str], journal: Journal | None, profile: MachineProfile) -> StreamPlan:
    """The lines to stream for ``lines`` (a new job, or the rest of the journal's), checked before any is sent.

    Raises OutOfBoundsError, LineTooLongError, RefusedCommandError or GcodeError (see ``gcode.check``),
    naming the program's line, so that nothing reaches the board.
    """
    plan = resume_plan(lines, journal, profile)
    return StreamPlan(plan, tuple(check_program(plan.lines, profile, plan.program_lines)))


@dataclass(frozen=True)
class DrawnStrokes:
    """What a (simulated) pen drew: polylines in machine mm and, per stroke, the program pauses before it."""

    strokes: list[list[tuple[float, float]]]
    sections: list[int]

    @classmethod
    def of(cls, simulator: BoardSimulator) -> "DrawnStrokes":
        return cls([list(s) for s in simulator.strokes], list(simulator.stroke_sections))


def send_program(
    lines: Sequence[str],
    port: str,
    profile: MachineProfile,
    baud: int = 115200,
    progress: bool = True,
    on_pause: Callable[[str], None] | None = None,
    protocol: str | None = None,
    journal: Journal | None = None,
    timeout_s: float = 10.0,
    checked: StreamPlan | None = None,
    connect: ConnectOptions = ConnectOptions(),
) -> tuple[StreamReport, DrawnStrokes | None]:
    """Stream a program to a plotter; with ``port='sim'`` to a simulated board on a pseudo-terminal.

    ``protocol`` is one of ``robot.PROTOCOLS`` (default: the profile's firmware's). ``on_pause`` is called
    at each pen change (M0) with its message and returns when the pen is in; the simulator changes pens at
    once. With a ``journal``, every line acknowledged is recorded in it as its program line number; a
    journal that already holds some (a job being resumed) makes the stream go on from the first line not
    acknowledged, after a preamble that restores the machine's state there. A stop that dropped the
    board's queue (Ctrl-C, an alarm, any exception) is recorded as a rewind (if the journal can still be
    written). Returns the stream report and, for the simulator, what it drew. Ctrl-C raises
    StreamInterrupted once the machine is stopped, the pen lifted; any other exception the same, raised
    again with the report as its ``report``. The report's errors and alarm name the program's own line
    numbers (None, "the resume preamble", for a preamble line). ``connect`` says what may be done to a GRBL
    board found in alarm or in a feed hold; one found stopped with a previous sender's queue dropped (an
    alarm, a hold cleared by a reset) rewinds the journal past the lines that may not have run.
    """
    check_port(port)
    plan = resume_plan(lines, journal, profile)
    protocol = protocol or default_protocol(profile)
    elapsed = elapsed_seconds(plan.lines, profile) if progress else None  # the progress bar's ETA

    def on_ack(index: int) -> None:
        if journal is not None and plan.program_lines[index] is not None:
            journal.acknowledge(plan.program_lines[index])

    def stream_to(device: str, pause: Callable[[str], None] | None) -> StreamReport:
        nonlocal plan, elapsed
        with open_streamer(protocol, device, baud, timeout_s, dialect_for(profile).pen_up, connect) as streamer:
            if streamer.queue_dropped_at is not None and journal is not None and journal.acknowledged:
                plan = _rewind_dropped_queue(lines, journal, profile, streamer.queue_dropped_at, connect)
                elapsed = elapsed_seconds(plan.lines, profile) if progress else None
            try:
                report = streamer.stream(plan.lines, progress, pause, elapsed, on_ack, plan.program_lines)
            except BaseException as exc:  # Ctrl-C, a signal, or an exception the streamer stopped for
                if getattr(exc, "report", None) is not None:
                    with signals_deferred():
                        _record_stop_if_possible(exc.report, lines, profile, journal)
                raise
        _record_stop(report, lines, profile, journal)
        return report

    if port != SIM_PORT:
        return stream_to(port, on_pause), None
    with PtyPlotter(simulator_for(profile, firmware="marlin" if protocol == "marlin" else "grbl")) as plotter:
        report = stream_to(plotter.port, None)
    return report, DrawnStrokes.of(plotter.simulator)


def check_on_board(
    lines: Sequence[str],
    port: str,
    profile: MachineProfile,
    baud: int = 115200,
    progress: bool = True,
    protocol: str | None = None,
    timeout_s: float = 10.0,
    connect: ConnectOptions = ConnectOptions(),
) -> StreamReport:
    """Have a GRBL board parse every line in its check mode (``$C``), moving nothing; the report lists every error.

    With ``port='sim'`` a simulated GRBL does it. Marlin has no check mode: StreamError before the port is opened.
    """
    check_port(port)
    protocol = protocol or default_protocol(profile)
    if protocol == "marlin":
        raise StreamError(NO_CHECK_MODE)

    def check_on(device: str) -> StreamReport:
        with open_streamer(protocol, device, baud, timeout_s, dialect_for(profile).pen_up, connect) as streamer:
            return streamer.check(lines, progress)

    if port != SIM_PORT:
        return check_on(port)
    with PtyPlotter(simulator_for(profile, firmware="grbl")) as plotter:
        return check_on(plotter.port)


def _rewind_dropped_queue(
    lines: Sequence[str], journal: Journal, profile: MachineProfile, found: MachineStatus, connect: ConnectOptions
) -> ResumePlan:
    """The board dropped what a previous sender had queued: unacknowledge what may not have run, plan anew."""
    before = first_missing(journal.acknowledged)
    journal.rewind(rewind_line(lines, journal.acknowledged, found.position_mm, profile))
    plan = resume_plan(lines, journal, profile)
    if connect.on_notice is not None and plan.start_line != before:
        connect.on_notice(f"the board was found {found.state}, with what the previous sender queued dropped: "
                          f"going on from line {plan.start_line} instead of {before}")
    return plan


def resume_plan(lines: Sequence[str], journal: Journal | None, profile: MachineProfile) -> ResumePlan:
    """The whole program for a new job; for a journal with acknowledged lines, a preamble and the rest."""
    if journal is None or not journal.acknowledged:
        return whole_program(lines)
    return plan_resume_missing(lines, journal.acknowledged, profile)


def _record_stop(
    report: StreamReport, program: Sequence[str], profile: MachineProfile, journal: Journal | None
) -> None:
    """After a stop that dropped the board's queue: the lines that may not have run are unacknowledged again.

    Where the machine stopped tells which lines ran: those before it that the board did not refuse are
    recorded as acknowledged even when their ``ok`` never came (the stop cut it off).
    """
    if journal is None or not (report.interrupted or report.alarm):
        return
    if not journal.acknowledged and not report.last_sent_line:
        return
    rewind = rewind_line(program, journal.acknowledged, report.stopped_at_mm, profile, report.last_sent_line)
    refused = {error["line_no"] for error in report.errors}
    for line_no in range(first_missing(journal.acknowledged), rewind):
        if line_no not in journal.acknowledged and line_no not in refused:
            journal.acknowledge(line_no)
    journal.rewind(rewind)


def _record_stop_if_possible(
    report: StreamReport, program: Sequence[str], profile: MachineProfile, journal: Journal | None
) -> None:
    """_record_stop while a stream is failing: a journal that cannot be written (its ``write_error``) is left."""
    try:
        _record_stop(report, program, profile, journal)
    except OSError:
        pass  # the journal keeps the error; the failure that ended the stream is what the caller reports


def stroke_pens(drawn: DrawnStrokes, lines: Sequence[str], profile: MachineProfile) -> list[int]:
    """The profile pen of each drawn stroke, read from the program's "(pen NAME)" comments.

    The emitter starts each layer of a multi-pen program with such a comment; a stroke drawn after k pen
    changes (M0) belongs to the pen named after the k-th one. Unnamed sections use the first pen.
    """
    names = [sanitize_comment(pen.name, MAX_LINE_CHARS) for pen in profile.pens]
    section_pen: dict[int, int] = {}
    pauses = 0
    for line in lines:
        code, comment = strip_comment(line)
        if code in ("M0", "M1"):
            pauses += 1
        elif not code and comment.startswith("pen ") and comment[4:].strip() in names:
            section_pen[pauses] = names.index(comment[4:].strip())
    return [section_pen.get(section, 0) for section in drawn.sections]


def preview_sheet(target: np.ndarray, render: np.ndarray, drawing: Image.Image, caption: str) -> Image.Image:
    """Target | optimiser render | simulated drawing, side by side, with the key numbers below."""
    return side_by_side(
        [("target", to_image(target)), ("optimiser render", to_image(render)), ("simulated drawing", drawing)],
        caption,
    )


def fidelity_ssim(render: np.ndarray, drawing: Image.Image) -> float:
    """SSIM between the optimiser's render and the simulated drawing resampled to the render's size."""
    height, width = render.shape[-2:]
    return ssim(render, to_array(drawing, (width, height), colour=render.ndim == 3))
