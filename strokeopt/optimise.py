"""Fitting strokes to a picture by gradient descent through the soft rasteriser.

Strokes start where the picture is dark (where the blank page is most wrong), Adam moves their control
points, the filter width is annealed from soft to the pen's hard edge, and points stay on the canvas.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from strokeopt import raster_cpu
from strokeopt.adam import CosineSchedule, FusedAdam
from strokeopt.colour import COLOUR_MODES, BlackPen, FreePaint, PenPalette, hex_to_rgb
from strokeopt.losses import DEFAULT_CONTENT_LAYER, DEFAULT_VGG_LAYERS, ImageLoss, parse_loss
from strokeopt.primitives import initial_control_points, polyline
from strokeopt.progress import progress_bar
from strokeopt.render import SoftRasteriser, StrokeRenderer, composite_over, draw_strokes, render_ink
from strokeopt.strokes import PRIMITIVES, StrokeSet
from strokeopt.tone import ToneCurve

DEVICES = ("auto", "cpu", "cuda")
COMPOSITING = ("ink", "over")
RESPAWN_EVERY = 20
RESPAWN_UNTIL = 0.8  # fraction of the iterations after which strokes are left to settle
RESPAWN_INK_FRACTION = 0.1  # a stroke with less ink than this share of a fresh stroke's is respawned
INK_LEARNING_RATE = 0.05  # for pen assignment logits and paint colours
WIDTH_LEARNING_RATE = 0.05  # px per step, for learnable widths


@dataclass(frozen=True)
class FitConfig:
    """How to fit: how many strokes of which primitive, how wide, for how many iterations."""

    strokes: int = 1000
    primitive: str = "line"
    iters: int = 300
    stroke_width_px: float = 1.0
    stroke_length_px: float | None = None  # initial length; None: enough for the strokes' ink to match the target
    max_length_factor: float = 3.0  # strokes may grow to this many times their initial length
    learning_rate: float = 0.02  # in units of the canvas's longer side, per step, before decay
    filter_start_px: float = 3.0
    loss: str = "tone"  # see strokeopt.losses: mse, tone, vgg, lpips, content and weighted sums
    vgg_layers: tuple[str, ...] = DEFAULT_VGG_LAYERS
    content_layer: str = DEFAULT_CONTENT_LAYER
    vgg_weights: str | None = None
    colour: str = "black"  # black: one pen on grayscale; pens: a palette (pen_colors); paint: free RGB
    pen_colors: tuple[str, ...] = ()  # '#rrggbb' per pen, for colour="pens"
    pen_widths_px: tuple[float, ...] = ()  # per pen; default stroke_width_px for every pen
    assign_until: float = 0.6  # fraction of the iterations after which each stroke's pen is fixed
    width_range_px: tuple[float, float] | None = None  # learn each stroke's width within these bounds
    compositing: str = "ink"  # ink: order-independent (pens); over: later strokes cover earlier (opaque paint)
    tone: ToneCurve | None = None  # how dark the pen's ink looks on the paper (measured); None: ideal black ink
    seed: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.primitive not in PRIMITIVES:
            raise ValueError(f"unknown primitive {self.primitive!r}; expected one of {', '.join(PRIMITIVES)}")
        if not 1 <= self.strokes <= 1_000_000:
            raise ValueError(f"strokes must be between 1 and 1000000, got {self.strokes}")
        if not 0 <= self.iters <= 100_000:
            raise ValueError(f"iters must be between 0 and 100000, got {self.iters}")
        if not (math.isfinite(self.stroke_width_px) and 0 < self.stroke_width_px <= 100):
            raise ValueError(f"stroke width must be in (0, 100] px, got {self.stroke_width_px}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        parse_loss(self.loss)
        if self.colour not in COLOUR_MODES:
            raise ValueError(f"colour must be one of {', '.join(COLOUR_MODES)}, got {self.colour!r}")
        if self.colour == "pens" and len(self.pen_colors) < 1:
            raise ValueError("colour 'pens' needs at least one pen colour")
        if self.pen_widths_px and len(self.pen_widths_px) != len(self.pen_colors):
            raise ValueError("give one width per pen colour, or none")
        if self.width_range_px is not None:
            low, high = self.width_range_px
            if not (0 < low <= high <= 100):
                raise ValueError(f"width range must satisfy 0 < min <= max <= 100 px, got {self.width_range_px}")
            if self.colour == "pens":
                raise ValueError("pens have the widths of the pens: learnable widths are for black or paint")
        if self.compositing not in COMPOSITING:
            raise ValueError(f"compositing must be one of {', '.join(COMPOSITING)}, got {self.compositing!r}")
        if self.compositing == "over" and self.colour != "paint":
            raise ValueError("'over' compositing is for paint (--paint): pen ink is order-independent")
        if self.tone is not None and self.colour == "paint":
            raise ValueError("a tone curve is a pen's: paint has a free colour and opacity per stroke")

    @property
    def channels(self) -> int:
        """1 for a grayscale fit, 3 for colour."""
        return 1 if self.colour == "black" else 3


@dataclass(frozen=True)
class FitResult:
    """The fitted strokes, the optimiser's final render (transmittance in [0, 1]) and the loss per iteration."""

    strokes: StrokeSet
    render: np.ndarray
    losses: list[float] = field(repr=False)
    seconds: float
    device: str
    step_seconds: list[float] = field(default_factory=list, repr=False)  # wall time of each iteration


def pick_device(name: str) -> torch.device:
    """'auto' takes CUDA when present, else the CPU; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available")
    return torch.device(name)


def render_stroke_set(strokes: StrokeSet, width_px: float | np.ndarray, filter_px: float = 1.0) -> np.ndarray:
    """Grayscale image (H, W) of a stroke set in black ink at its own canvas size (white paper = 1).

    ``width_px`` is one width or one per stroke.
    """
    control = torch.as_tensor(strokes.points, dtype=torch.float32)
    raster = SoftRasteriser(strokes.height_px, strokes.width_px)
    widths = torch.as_tensor(np.broadcast_to(width_px, (len(strokes),)).copy(), dtype=torch.float32)
    with torch.no_grad():
        image, _ = render_ink(raster, polyline(strokes.primitive, control), widths, filter_px)
    return image.numpy()


def fit_strokes(target: np.ndarray, config: FitConfig, renderer: StrokeRenderer | None = None) -> FitResult:
    """Fit ``config.strokes`` strokes to a target in [0, 1], white = paper: (H, W) grayscale, (3, H, W) colour.

    ``renderer`` draws the strokes (default: the analytic soft rasteriser at the target's size).
    """
    # Adam's second moments of tiny gradients underflow into denormals, which are ~50x slower on CPUs.
    flushed = torch.set_flush_denormal(True)
    torch_threads = torch.get_num_threads()
    if pick_device(config.device).type == "cpu" and raster_cpu.AVAILABLE:
        # the compiled rasteriser does the heavy lifting on every core; torch's idle pool would spin against it
        torch.set_num_threads(1)
    try:
        return _fit(target, config, renderer)
    finally:
        torch.set_num_threads(torch_threads)
        if flushed:
            torch.set_flush_denormal(False)


def _fit(target: np.ndarray, config: FitConfig, renderer: StrokeRenderer | None) -> FitResult:
    device = pick_device(config.device)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    if target.ndim != (2 if config.channels == 1 else 3) or (target.ndim == 3 and target.shape[0] != 3):
        raise ValueError(f"a {config.colour} fit needs a {'(H, W)' if config.channels == 1 else '(3, H, W)'} "
                         f"target, got shape {target.shape}")
    height, width = target.shape[-2:]
    scale = float(max(height, width))
    target_t = torch.as_tensor(target, dtype=torch.float32, device=device)
    darkness = _darkness(target_t).cpu()
    length_px = _initial_length(config, darkness)
    control = _place_strokes(darkness, config.strokes, length_px, config.primitive, generator)
    control = control.to(device).requires_grad_(True)
    ink_model = _ink_model(config, target_t, control.detach(), device)
    start_width = config.stroke_width_px
    if config.width_range_px is not None:
        start_width = min(max(start_width, config.width_range_px[0]), config.width_range_px[1])
    learned_widths = torch.full((config.strokes,), start_width, device=device, requires_grad=True)
    raster = renderer or SoftRasteriser(height, width)
    optimiser = FusedAdam([
        ([control], config.learning_rate * scale),
        (ink_model.parameters(), INK_LEARNING_RATE),
        ([learned_widths] if config.width_range_px else [], WIDTH_LEARNING_RATE),
    ])
    schedule = CosineSchedule(optimiser, t_max=max(1, config.iters))
    image_loss = ImageLoss(target_t, parse_loss(config.loss), config.vgg_layers, config.content_layer, config.vgg_weights)
    limits = torch.tensor([width, height], dtype=torch.float32, device=device)
    max_length_px = config.max_length_factor * length_px

    losses: list[float] = []
    respawned = 0
    description = f"fitting {config.strokes} {config.primitive}s"
    bar = progress_bar(range(config.iters), desc=description, enabled=config.progress)
    step_seconds: list[float] = []
    for step in bar:
        step_started = time.perf_counter()
        filter_px = _filter_width(step, config)
        absorb, widths = ink_model.absorb_and_widths(step)
        if config.width_range_px is not None:
            widths = learned_widths
        if config.compositing == "over":
            image, ink = _paint_over(raster, config.primitive, control, widths, filter_px, ink_model)
        else:
            image, ink = draw_strokes(raster, config.primitive, control, widths, filter_px, absorb)
        if config.tone is not None:
            image = config.tone.apply(image)
        loss = image_loss(image)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        with torch.no_grad():
            control.copy_(_limit_length(control, max_length_px))
            control.copy_(torch.minimum(control.clamp_min(0.0), limits))
            if config.width_range_px is not None:
                learned_widths.clamp_(*config.width_range_px)
            if _respawn_due(step, config):
                dead = _respawn(control, ink, image, target_t, length_px, config, generator, optimiser)
                ink_model.restart(dead, _colour_at(target_t, control[dead].mean(dim=1)))
                learned_widths[dead] = start_width
                respawned += len(dead)
        losses.append(float(loss.detach()))
        step_seconds.append(time.perf_counter() - step_started)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.5f}", respawned=respawned)

    points = control.detach().cpu().numpy().astype(np.float64)
    with torch.no_grad():
        absorb, widths = ink_model.absorb_and_widths(config.iters)
        if config.width_range_px is not None:
            widths = learned_widths.detach().clone()
    paint = isinstance(ink_model, FreePaint)
    strokes = StrokeSet(
        config.primitive, points, ink_model.pens().numpy().astype(np.int64), width, height,
        colors=ink_model.colours().detach().cpu().numpy().astype(np.float64) if paint else None,
        opacity=ink_model.opacity().detach().cpu().numpy().astype(np.float64) if paint else None,
        widths_px=widths.cpu().numpy().astype(np.float64) if config.width_range_px is not None else None,
    )
    with torch.no_grad():  # the final picture, through the same renderer, at the pen's hard edge
        if config.compositing == "over":
            final, _ = _paint_over(raster, config.primitive, control, widths, 1.0, ink_model)
        else:
            final, _ = draw_strokes(raster, config.primitive, control, widths, 1.0, absorb)
        if config.tone is not None:
            final = config.tone.apply(final)
    return FitResult(
        strokes=strokes,
        render=final.cpu().numpy().astype(np.float32),
        losses=losses,
        seconds=time.perf_counter() - started,
        device=str(device),
        step_seconds=step_seconds,
    )


def _paint_over(
    renderer: StrokeRenderer, primitive: str, control: torch.Tensor, widths: torch.Tensor, filter_px: float,
    paint: FreePaint,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Opaque paint composited in stroke order, and each stroke's ink (its coverage sum)."""
    patches = renderer.stroke_patches(primitive, control, widths, filter_px)
    ink = torch.zeros(len(control), dtype=control.dtype, device=control.device)
    ink = ink.index_add(0, patches.stroke, patches.coverage.detach().sum(dim=1))
    return composite_over(patches, paint.opacity(), paint.colours()), ink


def _respawn_due(step: int, config: FitConfig) -> bool:
    """Respawn every ``RESPAWN_EVERY`` steps while the strokes still have time to settle."""
    return step > 0 and step % RESPAWN_EVERY == 0 and step < RESPAWN_UNTIL * config.iters


def _respawn(
    control: torch.Tensor,
    ink: torch.Tensor,
    image: torch.Tensor,
    target: torch.Tensor,
    length_px: float,
    config: FitConfig,
    generator: torch.Generator,
    optimiser: FusedAdam,
) -> torch.Tensor:
    """Move strokes that leave (almost) no ink on the canvas to where the page is most too light.

    A stroke that slid off the canvas, shrank to nothing or ended where no gradient reaches it is wasted;
    starting it again where ink is missing puts it back to work. Its Adam moments are reset with it.
    """
    expected = config.stroke_width_px * max(length_px, config.stroke_width_px)
    dead = (ink < RESPAWN_INK_FRACTION * expected).nonzero()[:, 0]
    if len(dead) == 0:
        return dead
    missing = (image.detach() - target).clamp_min(0.0)
    if missing.dim() == 3:
        missing = missing.amax(dim=0)
    fresh = _place_strokes(missing, len(dead), length_px, config.primitive, generator)
    control[dead] = fresh.to(control.device, control.dtype)
    optimiser.forget(dead, len(control))
    return dead


def _filter_width(step: int, config: FitConfig) -> float:
    """Box-filter width: from ``filter_start_px`` down to one pixel over the first 70 % of the iterations."""
    anneal = max(1, int(0.7 * config.iters))
    frac = min(1.0, step / anneal)
    return 1.0 + (config.filter_start_px - 1.0) * (1.0 - frac)


def _darkness(target: torch.Tensor) -> torch.Tensor:
    """(H, W): how much ink the target asks for at each pixel (the most absorbed channel for colour)."""
    missing = (1.0 - target).clamp(0.0, 1.0)
    return missing.amax(dim=0) if missing.dim() == 3 else missing


def _colour_at(target: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Target colour (N, 3) under points (N, 2); grey repeated for a grayscale target."""
    height, width = target.shape[-2:]
    x = points[:, 0].long().clamp(0, width - 1)
    y = points[:, 1].long().clamp(0, height - 1)
    rgb = target.reshape(-1, height, width)[:, y, x].t()
    return rgb.expand(-1, 3) if rgb.shape[1] == 1 else rgb


def _ink_model(config: FitConfig, target: torch.Tensor, control: torch.Tensor, device: torch.device):
    """The colour model the config asks for, started from the target colour under each stroke."""
    if config.colour == "black":
        return BlackPen(config.strokes, config.stroke_width_px, device)
    colour = _colour_at(target, control.mean(dim=1))
    if config.colour == "paint":
        return FreePaint(colour, config.stroke_width_px)
    inks = torch.tensor([hex_to_rgb(c) for c in config.pen_colors], dtype=torch.float32, device=device)
    widths = config.pen_widths_px or (config.stroke_width_px,) * len(config.pen_colors)
    return PenPalette(inks, torch.tensor(widths, dtype=torch.float32, device=device), colour,
                      fix_at_step=int(config.assign_until * config.iters))


def _initial_length(config: FitConfig, darkness: torch.Tensor) -> float:
    """Stroke length at the start: given, or long enough for the strokes' ink to match the target's darkness."""
    if config.stroke_length_px is not None:
        return config.stroke_length_px
    height, width = darkness.shape
    ink_needed = float(darkness.sum())
    length = ink_needed / (config.strokes * config.stroke_width_px)
    return float(np.clip(length, 2.0 * config.stroke_width_px, 0.25 * max(height, width)))


def _limit_length(control: torch.Tensor, max_length_px: float) -> torch.Tensor:
    """Shrink strokes whose control polygon is longer than ``max_length_px`` about their centroid."""
    length = (control[:, 1:] - control[:, :-1]).norm(dim=-1).sum(dim=1, keepdim=True)
    factor = (max_length_px / length.clamp_min(1e-9)).clamp_max(1.0)[..., None]
    centre = control.mean(dim=1, keepdim=True)
    return centre + (control - centre) * factor


def _place_strokes(
    where: torch.Tensor, count: int, length_px: float, primitive: str, generator: torch.Generator
) -> torch.Tensor:
    """``count`` strokes centred at pixels drawn in proportion to ``where`` (H, W), in random directions."""
    height, width = where.shape
    weights = where.detach().cpu().float().clamp_min(0.0).reshape(-1) + 1e-6
    cells = torch.multinomial(weights, count, replacement=True, generator=generator)
    jitter = torch.rand(count, 2, generator=generator)
    centre = torch.stack([cells % width, torch.div(cells, width, rounding_mode="floor")], dim=1) + jitter
    angle = torch.rand(count, generator=generator) * math.pi
    direction = torch.stack([angle.cos(), angle.sin()], dim=1)
    points = initial_control_points(primitive, centre, direction, length_px, generator)
    limits = torch.tensor([width, height], dtype=torch.float32)
    return torch.minimum(points.clamp_min(0.0), limits)
