"""Primitives as differentiable polylines: control points (N, K, 2) -> sampled points (N, M, 2)."""

from __future__ import annotations

import torch

CUBIC_SEGMENTS = 12


def cubic_bezier_points(control: torch.Tensor, segments: int = CUBIC_SEGMENTS) -> torch.Tensor:
    """Sample each cubic Bézier (N, 4, 2) at ``segments + 1`` evenly spaced parameters."""
    t = torch.linspace(0.0, 1.0, segments + 1, dtype=control.dtype, device=control.device)
    u = 1.0 - t
    basis = torch.stack([u**3, 3 * u**2 * t, 3 * u * t**2, t**3], dim=1)  # (M, 4)
    return torch.einsum("mk,nkd->nmd", basis, control)


def polyline(primitive: str, control: torch.Tensor) -> torch.Tensor:
    """The polyline the renderer draws for strokes of ``primitive`` with these control points."""
    if primitive == "line":
        return control
    if primitive == "cubic":
        return cubic_bezier_points(control)
    raise ValueError(f"unknown primitive {primitive!r}")
