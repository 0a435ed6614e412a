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
from tqdm import tqdm

from strokeopt import raster_cpu
from strokeopt.losses import DEFAULT_CONTENT_LAYER, DEFAULT_VGG_LAYERS, ImageLoss, parse_loss
from strokeopt.primitives import initial_control_points, polyline
from strokeopt.render import SoftRasteriser, render_ink
from strokeopt.strokes import PRIMITIVES, StrokeSet

DEVICES = ("auto", "cpu", "cuda")
RESPAWN_EVERY = 20
RESPAWN_UNTIL = 0.8  # fraction of the iterations after which strokes are left to settle
RESPAWN_INK_FRACTION = 0.1  # a stroke with less ink than this share of a fresh stroke's is respawned


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


def render_strokes(strokes: StrokeSet, width_px: float, filter_px: float = 1.0) -> np.ndarray:
    """Transmittance image of a stroke set at its own canvas size (white paper = 1)."""
    control = torch.as_tensor(strokes.points, dtype=torch.float32)
    raster = SoftRasteriser(strokes.height_px, strokes.width_px)
    widths = torch.full((len(strokes),), float(width_px))
    with torch.no_grad():
        image, _ = render_ink(raster, polyline(strokes.primitive, control), widths, filter_px)
    return image.numpy()


def fit_strokes(target: np.ndarray, config: FitConfig) -> FitResult:
    """Fit ``config.strokes`` strokes to a grayscale target (H, W) in [0, 1], white = paper."""
    # Adam's second moments of tiny gradients underflow into denormals, which are ~50x slower on CPUs.
    flushed = torch.set_flush_denormal(True)
    torch_threads = torch.get_num_threads()
    if pick_device(config.device).type == "cpu" and raster_cpu.AVAILABLE:
        # the compiled rasteriser does the heavy lifting on every core; torch's idle pool would spin against it
        torch.set_num_threads(1)
    try:
        return _fit(target, config)
    finally:
        torch.set_num_threads(torch_threads)
        if flushed:
            torch.set_flush_denormal(False)


def _fit(target: np.ndarray, config: FitConfig) -> FitResult:
    device = pick_device(config.device)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    height, width = target.shape
    scale = float(max(height, width))
    target_t = torch.as_tensor(target, dtype=torch.float32, device=device)
    length_px = _initial_length(config, target)
    darkness = torch.as_tensor(1.0 - target, dtype=torch.float32)
    control = _place_strokes(darkness, config.strokes, length_px, config.primitive, generator)
    control = control.to(device).requires_grad_(True)
    widths = torch.full((config.strokes,), config.stroke_width_px, device=device)
    raster = SoftRasteriser(height, width)
    optimiser = torch.optim.Adam([control], lr=config.learning_rate * scale, fused=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, config.iters), eta_min=0.0)
    image_loss = ImageLoss(target_t, parse_loss(config.loss), config.vgg_layers, config.content_layer, config.vgg_weights)
    limits = torch.tensor([width, height], dtype=torch.float32, device=device)
    max_length_px = config.max_length_factor * length_px

    losses: list[float] = []
    respawned = 0
    bar = tqdm(range(config.iters), desc=f"fitting {config.strokes} {config.primitive}s", disable=not config.progress)
    step_seconds: list[float] = []
    for step in bar:
        step_started = time.perf_counter()
        filter_px = _filter_width(step, config)
        image, ink = render_ink(raster, polyline(config.primitive, control), widths, filter_px)
        loss = image_loss(image)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        with torch.no_grad():
            control.copy_(_limit_length(control, max_length_px))
            control.copy_(torch.minimum(control.clamp_min(0.0), limits))
            if _respawn_due(step, config):
                respawned += _respawn(control, ink, image, target_t, length_px, config, generator, optimiser)
        losses.append(float(loss.detach()))
        step_seconds.append(time.perf_counter() - step_started)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.5f}", respawned=respawned)

    points = control.detach().cpu().numpy().astype(np.float64)
    strokes = StrokeSet(config.primitive, points, np.zeros(config.strokes, np.int64), width, height)
    return FitResult(
        strokes=strokes,
        render=render_strokes(strokes, config.stroke_width_px),
        losses=losses,
        seconds=time.perf_counter() - started,
        device=str(device),
        step_seconds=step_seconds,
    )


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
    optimiser: torch.optim.Optimizer,
) -> int:
    """Move strokes that leave (almost) no ink on the canvas to where the page is most too light.

    A stroke that slid off the canvas, shrank to nothing or ended where no gradient reaches it is wasted;
    starting it again where ink is missing puts it back to work. Its Adam moments are reset with it.
    """
    expected = config.stroke_width_px * max(length_px, config.stroke_width_px)
    dead = (ink < RESPAWN_INK_FRACTION * expected).nonzero()[:, 0]
    if len(dead) == 0:
        return 0
    missing = (image.detach() - target).clamp_min(0.0)
    fresh = _place_strokes(missing, len(dead), length_px, config.primitive, generator)
    control[dead] = fresh.to(control.device, control.dtype)
    state = optimiser.state.get(control, {})
    for key in ("exp_avg", "exp_avg_sq"):
        if key in state:
            state[key][dead] = 0.0
    return len(dead)


def _filter_width(step: int, config: FitConfig) -> float:
    """Box-filter width: from ``filter_start_px`` down to one pixel over the first 70 % of the iterations."""
    anneal = max(1, int(0.7 * config.iters))
    frac = min(1.0, step / anneal)
    return 1.0 + (config.filter_start_px - 1.0) * (1.0 - frac)


def _initial_length(config: FitConfig, target: np.ndarray) -> float:
    """Stroke length at the start: given, or long enough for the strokes' ink to match the target's darkness."""
    if config.stroke_length_px is not None:
        return config.stroke_length_px
    height, width = target.shape
    ink_needed = float(np.clip(1.0 - target, 0.0, 1.0).sum())
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
