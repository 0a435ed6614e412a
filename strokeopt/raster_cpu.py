"""The soft rasteriser's coverage on the CPU as compiled loops (numba), with a hand-written backward pass.

Computes exactly what ``strokeopt.render`` computes with torch operations, in one pass per pixel: the
distance to the nearest segment and the box-filtered coverage. The backward pass visits only pixels with
ink and a gradient, recomputes the nearest segment there, and scatters ``grad * d(coverage)/d(parameter)``
into that segment's end points and the stroke's width. Nothing but the coverage is kept between passes.
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
# Patches are cut into this many chunks, each summed in order into its own buffer, and the buffers are then
# added in order: a fixed number (not the thread count), so the same strokes give the same bits on every
# machine and with any NUMBA_NUM_THREADS. More threads than chunks leave the extra ones idle.
CHUNKS = 4


def _nearest(poly, s, cx, cy):
    """(squared distance, segment index, parameter t, vector from the nearest point to the pixel)."""
    n_seg = poly.shape[1] - 1
    best = 1e30
    best_k = 0
    best_t = 0.0
    best_vx = 0.0
    best_vy = 0.0
    for k in range(max(n_seg, 1)):
        ax = poly[s, k, 0]
        ay = poly[s, k, 1]
        t = 0.0
        abx = 0.0
        aby = 0.0
        if n_seg > 0:
            abx = poly[s, k + 1, 0] - ax
            aby = poly[s, k + 1, 1] - ay
            l2 = abx * abx + aby * aby
            t = ((cx - ax) * abx + (cy - ay) * aby) / max(l2, 1e-12)
            t = min(max(t, 0.0), 1.0)
        vx = cx - (ax + t * abx)
        vy = cy - (ay + t * aby)
        d2 = vx * vx + vy * vy
        if d2 < best:
            best = d2
            best_k = k
            best_t = t
            best_vx = vx
            best_vy = vy
    return best, best_k, best_t, best_vx, best_vy


def _row_span(poly, s, cy, reach, x0, tile):
    """Columns [first, last) of a tile row (centre height ``cy``, left edge ``x0``) that may be within reach.

    For each segment, the part whose height is within ``reach`` of the row spans some x range; grown by
    ``reach`` and joined over segments, it holds every pixel centre of the row that the stroke can touch.
    """
    n_seg = max(poly.shape[1] - 1, 1)
    lo = 1e30
    hi = -1e30
    for k in range(n_seg):
        ax = poly[s, k, 0]
        ay = poly[s, k, 1]
        k1 = min(k + 1, poly.shape[1] - 1)
        bx = poly[s, k1, 0]
        by = poly[s, k1, 1]
        dy = by - ay
        if abs(dy) < 1e-9:
            if abs(ay - cy) > reach:
                continue
            t0 = 0.0
            t1 = 1.0
        else:
            t0 = (cy - reach - ay) / dy
            t1 = (cy + reach - ay) / dy
            if t0 > t1:
                t0, t1 = t1, t0
            t0 = max(t0, 0.0)
            t1 = min(t1, 1.0)
            if t0 > t1:
                continue
        xa = ax + t0 * (bx - ax)
        xb = ax + t1 * (bx - ax)
        lo = min(lo, min(xa, xb) - reach)
        hi = max(hi, max(xa, xb) + reach)
    if hi < lo:
        return 0, 0
    first = max(0, int(math.ceil(lo - x0 - 0.5)))
    last = min(tile, int(math.floor(hi - x0 - 0.5)) + 1)
    return first, max(first, last)


def _tiles_kernel(poly, reach, tile, tiles_y, tiles_x, width, height, stroke, tile_y, tile_x):
    """Fill (stroke, tile_y, tile_x) with the tiles whose centre is within reach + half a tile diagonal of
    the stroke, in stroke order; returns how many were written (the arrays are sized for the worst case)."""
    count = 0
    half_diagonal = tile * 0.7072
    for s in range(poly.shape[0]):
        lo_x = 1e30
        lo_y = 1e30
        hi_x = -1e30
        hi_y = -1e30
        for k in range(poly.shape[1]):
            lo_x = min(lo_x, poly[s, k, 0])
            hi_x = max(hi_x, poly[s, k, 0])
            lo_y = min(lo_y, poly[s, k, 1])
            hi_y = max(hi_y, poly[s, k, 1])
        r = reach[s]
        if hi_x + r <= 0 or hi_y + r <= 0 or lo_x - r >= width or lo_y - r >= height:
            continue
        tx0 = min(max(int(math.floor((lo_x - r) / tile)), 0), tiles_x - 1)
        tx1 = min(max(int(math.floor((hi_x + r) / tile)), 0), tiles_x - 1)
        ty0 = min(max(int(math.floor((lo_y - r) / tile)), 0), tiles_y - 1)
        ty1 = min(max(int(math.floor((hi_y + r) / tile)), 0), tiles_y - 1)
        limit2 = (r + half_diagonal) ** 2
        for ty in range(ty0, ty1 + 1):
            for tx in range(tx0, tx1 + 1):
                d2, _, _, _, _ = _nearest(poly, s, (tx + 0.5) * tile, (ty + 0.5) * tile)
                if d2 <= limit2:
                    stroke[count] = s
                    tile_y[count] = ty
                    tile_x[count] = tx
                    count += 1
    return count


def tiles_in_reach(
    polylines: np.ndarray, reach: np.ndarray, tile: int, tiles_y: int, tiles_x: int, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stroke, tile_y, tile_x) of every tile some pixel of each stroke could touch, as the torch path finds."""
    lo = polylines.min(axis=1) - reach[:, None]
    hi = polylines.max(axis=1) + reach[:, None]
    span_x = np.clip(np.floor(hi[:, 0] / tile), 0, tiles_x - 1) - np.clip(np.floor(lo[:, 0] / tile), 0, tiles_x - 1)
    span_y = np.clip(np.floor(hi[:, 1] / tile), 0, tiles_y - 1) - np.clip(np.floor(lo[:, 1] / tile), 0, tiles_y - 1)
    worst = int(((span_x + 1) * (span_y + 1)).sum())
    stroke = np.empty(worst, dtype=np.int64)
    tile_y = np.empty(worst, dtype=np.int64)
    tile_x = np.empty(worst, dtype=np.int64)
    count = _tiles_kernel(polylines, reach, tile, tiles_y, tiles_x, width, height, stroke, tile_y, tile_x)
    return stroke[:count], tile_y[:count], tile_x[:count]


def _add_point_gradient(grad_poly, c, s, k, t, scale, vx, vy):
    """Add scale * d(distance)/d(points) of segment k of stroke s, the pixel at (vx, vy) from its nearest point.

    distance = |pixel - (A + t (B - A))|, so d/dA = -u (1 - t) and d/dB = -u t with u = (vx, vy) / distance
    (``scale`` already holds the 1 / distance); t's own change is orthogonal to u and drops out.
    """
    k1 = min(k + 1, grad_poly.shape[2] - 1)
    grad_poly[c, s, k, 0] -= scale * vx * (1.0 - t)
    grad_poly[c, s, k, 1] -= scale * vy * (1.0 - t)
    grad_poly[c, s, k1, 0] -= scale * vx * t
    grad_poly[c, s, k1, 1] -= scale * vy * t


def _coverage_kernel(poly, widths, stroke, tile_y, tile_x, tile, filter_px, coverage):
    """Box-filtered coverage of each patch pixel by its stroke (0 where the stroke cannot reach)."""
    half_f = filter_px / 2.0
    for p in numba.prange(stroke.shape[0]):
        s = stroke[p]
        half_w = widths[s] / 2.0
        reach = half_w + half_f
        for j in range(tile * tile):
            coverage[p, j] = 0.0
        for iy in range(tile):
            cy = tile_y[p] * tile + iy + 0.5
            first, last = _row_span(poly, s, cy, reach, tile_x[p] * tile, tile)
            for ix in range(first, last):
                d2, _, _, _, _ = _nearest(poly, s, tile_x[p] * tile + ix + 0.5, cy)
                if d2 < reach * reach:
                    coverage[p, iy * tile + ix] = _pixel_coverage(d2, half_w, half_f, filter_px)[0]


def _backward_kernel(grad, coverage, poly, widths, stroke, tile_y, tile_x, tile, filter_px, grad_poly, grad_widths):
    """Scatter grad(coverage) * d(coverage)/d(parameter) into the polyline points and the widths.

    The patches are cut into one chunk per buffer in ``grad_poly``/``grad_widths`` (leading axis), so
    that threads never add into the same memory; the caller sums the buffers.
    """
    half_f = filter_px / 2.0
    chunks = grad_poly.shape[0]
    count = stroke.shape[0]
    for c in numba.prange(chunks):
        for p in range(c * count // chunks, (c + 1) * count // chunks):
            s = stroke[p]
            half_w = widths[s] / 2.0
            for j in range(tile * tile):
                g = grad[p, j]
                if g == 0.0 or coverage[p, j] == 0.0:
                    continue
                cx = tile_x[p] * tile + j % tile + 0.5
                cy = tile_y[p] * tile + j // tile + 0.5
                d2, k, t, vx, vy = _nearest(poly, s, cx, cy)
                _, dc_dd, dc_dw, d = _pixel_coverage(d2, half_w, half_f, filter_px)
                _add_point_gradient(grad_poly, c, s, k, t, g * dc_dd / d, vx, vy)
                grad_widths[c, s] += g * dc_dw


def _pixel_coverage(d2, half_w, half_f, filter_px):
    """(coverage, d(coverage)/d(distance), d(coverage)/d(width), distance) of a pixel at squared distance d2."""
    d = math.sqrt(d2 + 1e-12)
    hi_open = d + half_w < half_f
    lo_open = d - half_w > -half_f
    hi = d + half_w if hi_open else half_f
    lo = d - half_w if lo_open else -half_f
    if hi <= lo:
        return 0.0, 0.0, 0.0, d
    dc_dd = ((1.0 if hi_open else 0.0) - (1.0 if lo_open else 0.0)) / filter_px
    dc_dw = ((0.5 if hi_open else 0.0) + (0.5 if lo_open else 0.0)) / filter_px
    return (hi - lo) / filter_px, dc_dd, dc_dw, d


def _ink_kernel(
    poly, widths, absorb, stroke, tile_y, tile_x, tile, filter_px, padded_width, min_t, log_t, ink, coverage
):
    """Add every patch pixel's log(1 - absorbance * coverage), per channel, into ``log_t``; coverage into ``ink``.

    ``absorb`` (strokes, channels) is how much light of each channel a stroke's ink takes away.
    ``coverage`` (patches, tile * tile) keeps each pixel's coverage so the backward pass can skip bare pixels.
    ``log_t`` (chunks, channels, pixels) and ``ink`` (chunks, strokes) hold one buffer per chunk of patches,
    so that threads never add into the same memory; the caller sums them.
    """
    half_f = filter_px / 2.0
    chunks = log_t.shape[0]
    count = stroke.shape[0]
    for c in numba.prange(chunks):
        for p in range(c * count // chunks, (c + 1) * count // chunks):
            s = stroke[p]
            half_w = widths[s] / 2.0
            reach = half_w + half_f
            reach2 = reach * reach
            for j in range(tile * tile):
                coverage[p, j] = 0.0
            for iy in range(tile):
                py = tile_y[p] * tile + iy
                first, last = _row_span(poly, s, py + 0.5, reach, tile_x[p] * tile, tile)
                for ix in range(first, last):
                    px = tile_x[p] * tile + ix
                    d2, _, _, _, _ = _nearest(poly, s, px + 0.5, py + 0.5)
                    if d2 >= reach2:
                        continue
                    cov, _, _, _ = _pixel_coverage(d2, half_w, half_f, filter_px)
                    if cov == 0.0:
                        continue
                    coverage[p, iy * tile + ix] = cov
                    for ch in range(absorb.shape[1]):
                        log_t[c, ch, py * padded_width + px] += math.log(max(1.0 - absorb[s, ch] * cov, min_t))
                    ink[c, s] += cov


def _ink_backward_kernel(
    grad, coverage, poly, widths, absorb, stroke, tile_y, tile_x, tile, filter_px, padded_width, min_t,
    grad_poly, grad_widths, grad_absorb,
):
    """Chain rule from d(loss)/d(log transmittance) per channel and pixel to points, widths and absorbances."""
    half_f = filter_px / 2.0
    chunks = grad_poly.shape[0]
    count = stroke.shape[0]
    for c in numba.prange(chunks):
        for p in range(c * count // chunks, (c + 1) * count // chunks):
            s = stroke[p]
            half_w = widths[s] / 2.0
            reach = half_w + half_f
            reach2 = reach * reach
            for iy in range(tile):
                py = tile_y[p] * tile + iy
                first, last = _row_span(poly, s, py + 0.5, reach, tile_x[p] * tile, tile)
                for ix in range(first, last):
                    px = tile_x[p] * tile + ix
                    pixel = py * padded_width + px
                    if coverage[p, iy * tile + ix] == 0.0:
                        continue
                    d2, k, t, vx, vy = _nearest(poly, s, px + 0.5, py + 0.5)
                    if d2 >= reach2:
                        continue
                    cov, dc_dd, dc_dw, d = _pixel_coverage(d2, half_w, half_f, filter_px)
                    if cov == 0.0:
                        continue
                    g_cov = 0.0
                    for ch in range(absorb.shape[1]):
                        g = grad[ch, pixel]
                        remaining = 1.0 - absorb[s, ch] * cov
                        if g == 0.0 or remaining <= min_t:
                            continue
                        g_cov -= g * absorb[s, ch] / remaining  # d log(1 - a c) / dc = -a / (1 - a c)
                        grad_absorb[c, s, ch] -= g * cov / remaining
                    if g_cov == 0.0:
                        continue
                    grad_widths[c, s] += g_cov * dc_dw
                    _add_point_gradient(grad_poly, c, s, k, t, g_cov * dc_dd / d, vx, vy)


if AVAILABLE:
    # numba's OpenMP layer spins its own threads beside torch's and the two starve each other on few cores
    numba.config.THREADING_LAYER = "workqueue"
    _nearest = numba.njit(inline="always", fastmath=True, cache=True)(_nearest)
    _pixel_coverage = numba.njit(inline="always", cache=True)(_pixel_coverage)
    _row_span = numba.njit(inline="always", fastmath=True, cache=True)(_row_span)
    _add_point_gradient = numba.njit(inline="always", cache=True)(_add_point_gradient)
    _tiles_kernel = numba.njit(fastmath=True, cache=True)(_tiles_kernel)
    _coverage_kernel = numba.njit(parallel=True, cache=True)(_coverage_kernel)
    _ink_kernel = numba.njit(parallel=True, fastmath=True, cache=True)(_ink_kernel)
    _ink_backward_kernel = numba.njit(parallel=True, fastmath=True, cache=True)(_ink_backward_kernel)
    _backward_kernel = numba.njit(parallel=True, cache=True)(_backward_kernel)


class PatchCoverage(torch.autograd.Function):
    """coverage (P, tile*tile) of polylines (N, M, 2) with widths (N,) on the given (stroke, tile) patches."""

    @staticmethod
    def forward(ctx, polylines, widths, stroke, tile_y, tile_x, tile: int, filter_px: float):
        poly = polylines.detach().contiguous().numpy()
        w = widths.detach().contiguous().numpy()
        coverage = np.empty((len(stroke), tile * tile), dtype=poly.dtype)
        _coverage_kernel(poly, w, stroke.numpy(), tile_y.numpy(), tile_x.numpy(), tile, float(filter_px), coverage)
        ctx.arrays = (coverage, poly, w, stroke.numpy(), tile_y.numpy(), tile_x.numpy())
        ctx.settings = (tile, float(filter_px), polylines.dtype)
        return torch.from_numpy(coverage)

    @staticmethod
    def backward(ctx, grad_coverage):
        coverage, poly, w, stroke, tile_y, tile_x = ctx.arrays
        tile, filter_px, dtype = ctx.settings
        chunks = CHUNKS
        grad_poly = np.zeros((chunks, *poly.shape), dtype=poly.dtype)
        grad_widths = np.zeros((chunks, *w.shape), dtype=poly.dtype)
        grad = grad_coverage.detach().contiguous().numpy().astype(poly.dtype, copy=False)
        _backward_kernel(grad, coverage, poly, w, stroke, tile_y, tile_x, tile, filter_px, grad_poly, grad_widths)
        return (
            torch.from_numpy(grad_poly.sum(axis=0)).to(dtype),
            torch.from_numpy(grad_widths.sum(axis=0)).to(dtype),
            None, None, None, None, None,
        )


class InkLogTransmittance(torch.autograd.Function):
    """Order-independent ink in one pass: log transmittance (channels, padded H, padded W) and each stroke's ink.

    ``absorb`` (N, C) is each stroke's absorbance per channel (opacity x (1 - ink colour); one channel of 1s
    for a black pen on grayscale). The same result as compositing ``PatchCoverage`` patches with
    ``render.composite_ink``, without materialising a value per patch pixel; the ink sums carry no gradient.
    """

    @staticmethod
    def forward(ctx, polylines, widths, absorb, stroke, tile_y, tile_x, tile: int, filter_px: float,
                padded_shape: tuple[int, int], min_t: float):
        poly = polylines.detach().contiguous().numpy()
        w = widths.detach().contiguous().numpy()
        a = absorb.detach().contiguous().numpy()
        arrays = (stroke.numpy(), tile_y.numpy(), tile_x.numpy())
        chunks = CHUNKS
        hp, wp = padded_shape
        log_t = np.zeros((chunks, a.shape[1], hp * wp), dtype=poly.dtype)
        ink = np.zeros((chunks, len(w)), dtype=poly.dtype)
        coverage = np.empty((len(arrays[0]), tile * tile), dtype=poly.dtype)
        _ink_kernel(poly, w, a, *arrays, tile, float(filter_px), wp, min_t, log_t, ink, coverage)
        ctx.arrays = (coverage, poly, w, a, *arrays)
        ctx.settings = (tile, float(filter_px), wp, min_t, polylines.dtype)
        ink_sum = torch.from_numpy(ink.sum(axis=0))
        ctx.mark_non_differentiable(ink_sum)
        return torch.from_numpy(log_t.sum(axis=0)).reshape(a.shape[1], hp, wp), ink_sum

    @staticmethod
    def backward(ctx, grad_log_t, _grad_ink):
        coverage, poly, w, a, stroke, tile_y, tile_x = ctx.arrays
        tile, filter_px, wp, min_t, dtype = ctx.settings
        chunks = CHUNKS
        grad_poly = np.zeros((chunks, *poly.shape), dtype=poly.dtype)
        grad_widths = np.zeros((chunks, *w.shape), dtype=poly.dtype)
        grad_absorb = np.zeros((chunks, *a.shape), dtype=poly.dtype)
        grad = grad_log_t.detach().contiguous().reshape(a.shape[1], -1).numpy().astype(poly.dtype, copy=False)
        _ink_backward_kernel(grad, coverage, poly, w, a, stroke, tile_y, tile_x, tile, filter_px, wp, min_t,
                             grad_poly, grad_widths, grad_absorb)
        return (
            torch.from_numpy(grad_poly.sum(axis=0)).to(dtype),
            torch.from_numpy(grad_widths.sum(axis=0)).to(dtype),
            torch.from_numpy(grad_absorb.sum(axis=0)).to(dtype),
            None, None, None, None, None, None, None,
        )
