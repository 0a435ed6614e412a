"""The soft rasteriser's coverage on the CPU as compiled loops (numba), with a hand-written backward pass.

Computes exactly what ``strokeopt.render`` computes with torch operations, but in one pass per pixel:
the distance to the nearest segment, the box-filtered coverage, and the coverage's derivatives with
respect to that segment's end points and the stroke's width. The backward pass then only scatters
``grad * derivative`` into the polyline points, so a training step costs a few passes over the patches.
"""

from __future__ import annotations

import math

import numpy as np
import torch

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; the torch path still works without it
    numba = None

AVAILABLE = numba is not None


def _coverage_kernel(poly, widths, stroke, tile_y, tile_x, tile, filter_px, coverage, nearest, partials):
    """For each patch and pixel: coverage, index of the nearest segment, d(coverage)/d(Ax, Ay, Bx, By, w)."""
    half_f = filter_px / 2.0
    n_seg = poly.shape[1] - 1
    for p in numba.prange(stroke.shape[0]):
        s = stroke[p]
        half_w = widths[s] / 2.0
        for iy in range(tile):
            cy = tile_y[p] * tile + iy + 0.5
            for ix in range(tile):
                cx = tile_x[p] * tile + ix + 0.5
                best = 1e30
                best_k = 0
                best_t = 0.0
                best_vx = 0.0
                best_vy = 0.0
                for k in range(max(n_seg, 1)):
                    ax = poly[s, k, 0]
                    ay = poly[s, k, 1]
                    if n_seg == 0:
                        t = 0.0
                        bx = ax
                        by = ay
                    else:
                        bx = poly[s, k + 1, 0]
                        by = poly[s, k + 1, 1]
                        abx = bx - ax
                        aby = by - ay
                        l2 = abx * abx + aby * aby
                        t = ((cx - ax) * abx + (cy - ay) * aby) / max(l2, 1e-12)
                        t = min(max(t, 0.0), 1.0)
                    vx = cx - (ax + t * (bx - ax))
                    vy = cy - (ay + t * (by - ay))
                    d2 = vx * vx + vy * vy
                    if d2 < best:
                        best = d2
                        best_k = k
                        best_t = t
                        best_vx = vx
                        best_vy = vy
                d = math.sqrt(best + 1e-12)
                hi_open = d + half_w < half_f
                lo_open = d - half_w > -half_f
                hi = d + half_w if hi_open else half_f
                lo = d - half_w if lo_open else -half_f
                j = iy * tile + ix
                nearest[p, j] = best_k
                if hi <= lo:
                    coverage[p, j] = 0.0
                    for q in range(5):
                        partials[p, j, q] = 0.0
                    continue
                coverage[p, j] = (hi - lo) / filter_px
                dc_dd = ((1.0 if hi_open else 0.0) - (1.0 if lo_open else 0.0)) / filter_px
                ux = best_vx / d
                uy = best_vy / d
                # d = |c - (A + t (B - A))|: dd/dA = -u (1 - t), dd/dB = -u t (t's own change is orthogonal to u)
                partials[p, j, 0] = -dc_dd * ux * (1.0 - best_t)
                partials[p, j, 1] = -dc_dd * uy * (1.0 - best_t)
                partials[p, j, 2] = -dc_dd * ux * best_t
                partials[p, j, 3] = -dc_dd * uy * best_t
                partials[p, j, 4] = ((0.5 if hi_open else 0.0) + (0.5 if lo_open else 0.0)) / filter_px


def _backward_kernel(grad, stroke, nearest, partials, n_points, grad_poly, grad_widths):
    """Scatter grad(coverage) * d(coverage)/d(parameter) into the polyline points and the widths.

    The patches are cut into one chunk per buffer in ``grad_poly``/``grad_widths`` (leading axis), so
    that threads never add into the same memory; the caller sums the buffers.
    """
    chunks = grad_poly.shape[0]
    count = stroke.shape[0]
    for c in numba.prange(chunks):
        for p in range(c * count // chunks, (c + 1) * count // chunks):
            s = stroke[p]
            for j in range(grad.shape[1]):
                g = grad[p, j]
                if g == 0.0:
                    continue
                k = nearest[p, j]
                k1 = min(k + 1, n_points - 1)
                grad_poly[c, s, k, 0] += g * partials[p, j, 0]
                grad_poly[c, s, k, 1] += g * partials[p, j, 1]
                grad_poly[c, s, k1, 0] += g * partials[p, j, 2]
                grad_poly[c, s, k1, 1] += g * partials[p, j, 3]
                grad_widths[c, s] += g * partials[p, j, 4]


if AVAILABLE:
    # numba's OpenMP layer spins its own threads beside torch's and the two starve each other on few cores
    numba.config.THREADING_LAYER = "workqueue"
    _coverage_kernel = numba.njit(parallel=True, fastmath=False, cache=True)(_coverage_kernel)
    _backward_kernel = numba.njit(parallel=True, cache=True)(_backward_kernel)


class PatchCoverage(torch.autograd.Function):
    """coverage (P, tile*tile) of polylines (N, M, 2) with widths (N,) on the given (stroke, tile) patches."""

    @staticmethod
    def forward(ctx, polylines, widths, stroke, tile_y, tile_x, tile: int, filter_px: float):
        poly = polylines.detach().contiguous().numpy()
        w = widths.detach().contiguous().numpy()
        s = stroke.numpy()
        count = len(s)
        coverage = np.empty((count, tile * tile), dtype=poly.dtype)
        nearest = np.empty((count, tile * tile), dtype=np.int32)
        partials = np.empty((count, tile * tile, 5), dtype=poly.dtype)
        _coverage_kernel(poly, w, s, tile_y.numpy(), tile_x.numpy(), tile, float(filter_px), coverage, nearest, partials)
        ctx.save_for_backward(stroke)
        ctx.nearest, ctx.partials = nearest, partials
        ctx.shapes = (polylines.shape, widths.shape, polylines.dtype)
        return torch.from_numpy(coverage)

    @staticmethod
    def backward(ctx, grad_coverage):
        (stroke,) = ctx.saved_tensors
        poly_shape, widths_shape, dtype = ctx.shapes
        chunks = numba.get_num_threads()
        grad_poly = np.zeros((chunks, *poly_shape), dtype=ctx.partials.dtype)
        grad_widths = np.zeros((chunks, *widths_shape), dtype=ctx.partials.dtype)
        grad = grad_coverage.detach().contiguous().numpy().astype(ctx.partials.dtype, copy=False)
        _backward_kernel(grad, stroke.numpy(), ctx.nearest, ctx.partials, poly_shape[1], grad_poly, grad_widths)
        return (
            torch.from_numpy(grad_poly.sum(axis=0)).to(dtype),
            torch.from_numpy(grad_widths.sum(axis=0)).to(dtype),
            None, None, None, None, None,
        )
