"""The fit half of the pipeline: a picture -> strokes fitted at the profile's pens -> SVG, and judging the result.

Everything here needs torch (through ``strokeopt``); the machine half (plan, simulate, send, resume) lives in
``strokebot.pipeline`` and starts without it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from calibration import MachineProfile, as_calibrated, tone_points
from strokebot.defaults import DEFAULT_ITERS, FitDefaults, derive_defaults, picture_ink
from strokebot.files import write_json_atomic, write_png_atomic, write_text_atomic
from strokebot.likeness import likeness, view_size
from strokebot.pipeline import SIM_SUPERSAMPLE
from strokebot.preview import side_by_side, to_array, to_image
from strokeopt.export import strokes_to_svg
from strokeopt.image import load_grayscale, load_rgb
from strokeopt.metrics import blur_array, psnr, ssim
from strokeopt.names import DEFAULT_VGG_LAYERS
from strokeopt.colour import hex_to_rgb
from strokeopt.optimise import FitConfig, FitResult, fit_strokes, pick_device
from strokeopt.primitives import polyline
from strokeopt.render import SoftRasteriser, StrokeRenderer, render_ink
from strokeopt.strokes import StrokeSet
from strokeopt.tone import ToneCurve

VIEWING_BLUR_SIGMA_PX = 2.0
VIEW_PEN_PX = 1.5  # the pen's width in the view (the preview's middle panel): lines, not grey tone
VIEW_MAX_PX = 3200  # the view's longer side at most


@dataclass(frozen=True)
class FitOptions:
    """The user's fit settings; the pen width comes from the machine profile."""

    strokes: int | None = None  # None: from the profile's pen and paper and the picture's ink (strokebot.defaults)
    primitive: str = "line"
    iters: int = DEFAULT_ITERS
    size_px: int | None = None  # None: the size at which the profile's pen is defaults.PEN_PX fit pixels wide
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
    defaults: FitDefaults  # what the profile and picture suggest; options given override it
    config: FitConfig
    renderer: str

    @functools.cached_property
    def view(self) -> np.ndarray:
        """The fitted strokes rendered where the pen is at least VIEW_PEN_PX wide: the line drawing."""
        return view_render(self.result, self.config) if self.renderer == "soft" else self.result.render

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
            "derived": {"size_px": self.defaults.size_px, "strokes": self.defaults.strokes,
                        "stroke_length_mm": self.defaults.stroke_length_mm,
                        "ink_coverage": round(self.defaults.ink_coverage, 4)},
        }


def write_fit(run: FitRun, out_dir: Path) -> dict:
    """Write strokes.svg, render.png and fit.json into ``out_dir``; returns fit.json's data.

    render.png is the view (the strokes where the pen is at least VIEW_PEN_PX wide), so it looks like what the
    pen draws; fit.json scores the optimiser's own render at the fit size against the target.
    """
    report = run.report()
    write_text_atomic(out_dir / "strokes.svg", run.svg)
    write_png_atomic(out_dir / "render.png", to_image(run.view))
    write_json_atomic(out_dir / "fit.json", report)
    return report


def image_scores(image: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM against the target, plain and at viewing distance (both blurred, sigma 2 px)."""

    def blur(a: np.ndarray) -> np.ndarray:
        return blur_array(a, VIEWING_BLUR_SIGMA_PX)

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


BLACK_INK_MAX = 0x20 / 255  # a pen whose ink has no channel above this is fitted as black on grayscale


def colour_mode(profile: MachineProfile, paint: bool) -> str:
    """Free paint when asked; a pen palette for several pens or one coloured pen; else one black pen on grayscale.

    One pen of a colour (a brown laser burn, a blue ballpoint) is a palette of one: the fit then knows how
    much light its ink takes away, so that its render is as dark as the drawing, and not black.
    """
    if paint:
        return "paint"
    coloured = max(hex_to_rgb(profile.pens[0].color)) > BLACK_INK_MAX
    return "pens" if len(profile.pens) > 1 or coloured else "black"


def fit_image(image_path: str | Path, profile: MachineProfile, options: FitOptions) -> FitRun:
    """Fit strokes to the picture at the widths (and, with several pens, the inks) of the profile's pens."""
    tone = tone_points(profile)  # (from the labelled pen's densities: before the measured width replaces it)
    profile = as_calibrated(profile)  # the first pen as wide as `calibrate apply` measured it
    colour = colour_mode(profile, options.paint)
    defaults = derive_defaults(profile, *picture_ink(image_path, colour=colour != "black"))
    options = dataclasses.replace(options, strokes=options.strokes or defaults.strokes,
                                  size_px=options.size_px or defaults.size_px)
    load = load_grayscale if colour == "black" else load_rgb
    target = load(image_path, options.size_px)
    height, width = target.shape[-2:]
    mm_per_px = canvas_mm_per_px(profile, width, height)
    pen_width_px = options.stroke_width_px or profile.pens[0].width_mm / mm_per_px
    pens = profile.pens if colour == "pens" else ()
    config = FitConfig(
        colour=colour,
        tone=ToneCurve(*tone) if tone is not None and colour != "paint" else None,
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
    return FitRun(target, result, mm_per_px, pen_width_px, svg, options.iters, options.loss, defaults, config,
                  options.renderer)


def view_scale(pen_width_px: float, size_px: int) -> int:
    """Pixels of the view per fit pixel: enough for the pen to be VIEW_PEN_PX wide, the view at most VIEW_MAX_PX."""
    wanted = math.ceil(VIEW_PEN_PX / pen_width_px - 1e-9)
    return max(1, min(wanted, VIEW_MAX_PX // size_px))


def view_render(result: FitResult, config: FitConfig) -> np.ndarray:
    """The fitted strokes as the pen draws them: rendered at ``view_scale`` times the fit resolution.

    At the fit resolution a pen narrower than a pixel is averaged into grey tone; here each line is as
    wide as the pen, so the picture is the line drawing. Same ink model as the optimiser (filter 1 px).
    """
    strokes = result.strokes
    widths = _stroke_widths_px(strokes, config)
    scale = view_scale(float(widths.min()), max(strokes.width_px, strokes.height_px))
    if config.compositing == "over":  # opaque paint in stroke order: the optimiser's render, enlarged
        return np.repeat(np.repeat(result.render, scale, axis=-1), scale, axis=-2)
    raster = SoftRasteriser(strokes.height_px * scale, strokes.width_px * scale)
    control = torch.as_tensor(strokes.points * scale, dtype=torch.float32)
    absorb = _stroke_absorbance(strokes, config)
    with torch.no_grad():
        image, _ = render_ink(raster, polyline(strokes.primitive, control),
                              torch.as_tensor(widths * scale, dtype=torch.float32), 1.0, absorb)
        if config.tone is not None:
            image = config.tone.apply(image)
    return image.numpy()


def _stroke_widths_px(strokes: StrokeSet, config: FitConfig) -> np.ndarray:
    """Each stroke's width in fit pixels: learned, its pen's, or the one width of the fit."""
    if strokes.widths_px is not None:
        return strokes.widths_px
    if config.pen_widths_px:
        return np.asarray(config.pen_widths_px, dtype=np.float64)[strokes.pens]
    return np.full(len(strokes), config.stroke_width_px)


def _stroke_absorbance(strokes: StrokeSet, config: FitConfig) -> torch.Tensor | None:
    """(N, 3) absorbance per stroke for a coloured fit (pens' inks, or paint), None for one black pen."""
    if config.colour == "black":
        return None
    if config.colour == "pens":
        inks = np.array([hex_to_rgb(c) for c in config.pen_colors])[strokes.pens]
        return torch.as_tensor(1.0 - inks, dtype=torch.float32)
    return torch.as_tensor(strokes.opacity[:, None] * (1.0 - strokes.colors), dtype=torch.float32)


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


def preview_sheet(target: np.ndarray, view: np.ndarray, drawing: Image.Image, caption: str) -> Image.Image:
    """Target | the fitted strokes at the pen's width | simulated drawing, side by side, with the key numbers below."""
    return side_by_side(
        [("target", to_image(target)), ("fitted strokes (pen width)", to_image(view)), ("simulated drawing", drawing)],
        caption,
    )


def fidelity_ssim(render: np.ndarray, drawing: Image.Image) -> float:
    """SSIM between a render of the strokes and the simulated drawing resampled (box filter) to the render's size."""
    height, width = render.shape[-2:]
    return ssim(render, to_array(drawing, (width, height), colour=render.ndim == 3))


def drawing_px_per_mm(run: FitRun) -> float:
    """The simulated drawing's resolution: a whole multiple of the view's, and SIM_SUPERSAMPLE px per fit px at least.

    So the drawing box-resamples exactly onto the view (the preview's middle panel) and onto the fit's pixels.
    """
    scale = run.view.shape[-1] // run.result.strokes.width_px
    return scale * math.ceil(SIM_SUPERSAMPLE / scale) / run.mm_per_px


def drawing_likeness(image_path: str | Path, drawing: Image.Image, run: FitRun) -> dict[str, float]:
    """``likeness`` of the simulated drawing against the original picture, on the paper it covers."""
    page_mm = (run.result.strokes.width_px * run.mm_per_px, run.result.strokes.height_px * run.mm_per_px)
    picture = to_image(load_grayscale(image_path, max(view_size(page_mm))))
    return likeness(drawing, picture, page_mm)
