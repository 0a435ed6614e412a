"""Primitives as differentiable polylines: control points (N, K, 2) -> sampled points (N, M, 2).

Every function here is batched over strokes (no Python loop over N) and differentiable in the control points.
"""

from __future__ import annotations

import math

import torch

from strokeopt.strokes import CONTROL_POINTS

BEZIER_SEGMENTS = 12  # a quadratic or cubic Bézier is drawn as this many straight segments
CUBIC_SEGMENTS = BEZIER_SEGMENTS
CATMULL_ROM_SPAN_SEGMENTS = 6  # each span between two Catmull-Rom control points gets this many segments
MAX_BEND = 0.15  # initial curves bend at most this fraction of their length away from their axis


def bezier_points(control: torch.Tensor, segments: int = BEZIER_SEGMENTS) -> torch.Tensor:
    """Sample each Bézier of degree K-1 (N, K, 2) at ``segments + 1`` evenly spaced parameters, ends included."""
    degree = control.shape[1] - 1
    t = torch.linspace(0.0, 1.0, segments + 1, dtype=control.dtype, device=control.device)
    u = 1.0 - t
    basis = torch.stack([math.comb(degree, i) * u ** (degree - i) * t**i for i in range(degree + 1)], dim=1)
    return torch.einsum("mk,nkd->nmd", basis, control)


def cubic_bezier_points(control: torch.Tensor, segments: int = CUBIC_SEGMENTS) -> torch.Tensor:
    """Sample each cubic Bézier (N, 4, 2) at ``segments + 1`` evenly spaced parameters."""
    return bezier_points(control, segments)


def catmull_rom_to_cubics(points: torch.Tensor) -> torch.Tensor:
    """Each span of the uniform Catmull-Rom spline through points (N, K, 2) as its exact cubic Bézier (N, K-1, 4, 2).

    The end tangents come from duplicated end points. Sampling and SVG export both use these cubics, so the
    curve the optimiser sees is the curve the plotter draws.
    """
    padded = torch.cat([points[:, :1], points, points[:, -1:]], dim=1)  # P_-1 = P_0, P_K = P_K-1
    before, start, end, after = padded[:, :-3], padded[:, 1:-2], padded[:, 2:-1], padded[:, 3:]
    control1 = start + (end - before) / 6
    control2 = end - (after - start) / 6
    return torch.stack([start, control1, control2, end], dim=2)


def catmull_rom_points(points: torch.Tensor, span_segments: int = CATMULL_ROM_SPAN_SEGMENTS) -> torch.Tensor:
    """Sample the Catmull-Rom spline through points (N, K, 2), ``span_segments`` per span: (N, (K-1)s+1, 2)."""
    cubics = catmull_rom_to_cubics(points)
    n, spans = cubics.shape[:2]
    samples = cubic_bezier_points(cubics.reshape(n * spans, 4, 2), span_segments).reshape(n, spans, -1, 2)
    # each span ends exactly where the next one starts: keep that shared point once
    return torch.cat([samples[:, :, :-1].reshape(n, -1, 2), samples[:, -1, -1:]], dim=1)


def polyline(primitive: str, control: torch.Tensor) -> torch.Tensor:
    """The polyline the renderer draws for strokes of ``primitive`` with these control points."""
    if primitive in ("dot", "line"):
        return control
    if primitive in ("quadratic", "cubic"):
        return bezier_points(control)
    if primitive == "catmull-rom":
        return catmull_rom_points(control)
    raise ValueError(f"unknown primitive {primitive!r}")


def stroke_length(primitive: str, control: torch.Tensor) -> torch.Tensor:
    """Length (N,) of each stroke's drawn polyline, 0 for dots; what limits and losses on length should use."""
    points = polyline(primitive, control)
    steps = points[:, 1:] - points[:, :-1]
    return steps.norm(dim=-1).sum(dim=1)


def initial_control_points(
    primitive: str,
    centres: torch.Tensor,
    directions: torch.Tensor,
    length_px: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Starting control points (N, K, 2) for strokes at centres (N, 2) along unit directions (N, 2).

    Points are spread evenly over ``length_px`` along the direction (a dot is just its centre); curves get
    each interior point moved perpendicular to the axis by a random amount of at most ``MAX_BEND`` of the
    length, drawn from ``generator`` so that a seed reproduces the start bit for bit.
    """
    if primitive not in CONTROL_POINTS:
        raise ValueError(f"unknown primitive {primitive!r}")
    k = CONTROL_POINTS[primitive]
    if k == 1:
        return centres[:, None, :].clone()
    along = torch.linspace(-0.5, 0.5, k, dtype=centres.dtype, device=centres.device) * length_px
    points = centres[:, None, :] + along[None, :, None] * directions[:, None, :]
    if k > 2:
        normal = torch.stack([-directions[:, 1], directions[:, 0]], dim=1)
        unit = torch.rand(len(centres), k - 2, generator=generator, dtype=centres.dtype, device=generator.device)
        bend = ((unit - 0.5) * (2 * MAX_BEND) * length_px).to(centres.device)
        points[:, 1:-1] += bend[:, :, None] * normal[:, None, :]
    return points
