"""The fit half of the pipeline: a picture -> strokes fitted at the profile's pens -> SVG, and judging the result.

Everything here needs torch (through ``strokeopt``); the machine half (plan, simulate, send, resume) lives in
``strokebot.pipeline`` and starts without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from calibration import MachineProfile, as_calibrated
from strokebot.preview import side_by_side, to_array, to_image
from strokeopt.export import strokes_to_svg
from strokeopt.image import load_grayscale, load_rgb
from strokeopt.metrics import gaussian_blur, psnr, ssim
from strokeopt.names import DEFAULT_VGG_LAYERS
from strokeopt.optimise import FitConfig, FitResult, fit_strokes, pick_device
from strokeopt.render import StrokeRenderer

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
    profile = as_calibrated(profile)  # the first pen as wide as `calibrate apply` measured it
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
