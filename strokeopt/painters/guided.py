"""The guided painter: the stroke's geometry is computed exactly, only the brush's response is learned.

For each pixel the painter finds, analytically, the nearest point of the action's Bézier (the same
distance-to-polyline geometry as ``strokeopt``'s soft rasteriser), the pressure there and how far the
pixel is from the stroke's nearer end. A learned table turns (distance ÷ brush radius, pressure, distance
from the end ÷ radius) into ink coverage, and a learned curve scales the radius with pressure: that is the
brush's texture, hardness, opacity and taper. The network has nothing else to learn (no smudging of the
shape, a few thousand parameters), and colour is applied analytically on white paper:
``image = 1 - coverage x (1 - colour)``, so coverage is shared with the optimiser's compositing.

On the CPU the pixels within reach of each stroke are visited by compiled loops (numba) with a
hand-written backward pass; elsewhere (CUDA) the same model runs as dense torch operations. In the
backward pass the position along the stroke (which pressure and end distance are read at) is held
fixed for the geometry; the distance's gradient, which moves the stroke, is exact.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from strokeopt.painters.actions import COLOUR, POINTS, PRESSURE, RADIUS_MAX_FRACTION, RADIUS_MIN_FRACTION, SIZE
from strokeopt.painters.base import Painter, register

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; the torch path still works without it
    numba = None

SEGMENTS = 16  # the Bézier is measured against this many straight segments
GRAD_CHUNKS = 8  # fixed, so sums (and so trained weights) do not depend on the number of threads


def _bezier_basis(segments: int) -> torch.Tensor:
    t = torch.linspace(0.0, 1.0, segments + 1, dtype=torch.float64)
    return torch.stack([(1 - t) ** 2, 2 * (1 - t) * t, t**2], dim=1)  # (S+1, 3)


def _lerp_index(value, top, knots):
    """Knot index and weight of ``value`` in [0, top] on ``knots`` evenly spaced knots (clamped)."""
    f = min(max(value, 0.0), top) / top * (knots - 1)
    i = min(int(f), knots - 2)
    return i, f - i


def _lookup(table, fx_i, wx, fp_i, wp, fe_i, we):
    """Trilinear value of ``table`` and its derivatives along the three axes (per unit of knot index)."""
    v = 0.0
    dx = 0.0
    dp = 0.0
    de = 0.0
    for a in range(2):
        ax = wx if a else 1.0 - wx
        sx = 1.0 if a else -1.0
        for b in range(2):
            bp = wp if b else 1.0 - wp
            sp = 1.0 if b else -1.0
            for c in range(2):
                ce = we if c else 1.0 - we
                se = 1.0 if c else -1.0
                t = table[fx_i + a, fp_i + b, fe_i + c]
                v += ax * bp * ce * t
                dx += sx * bp * ce * t
                dp += ax * sp * ce * t
                de += ax * bp * se * t
    return v, dx, dp, de


def _table_at(table, xr, p, e, x_max, e_max):
    """Knot indices and weights of (distance / radius, pressure, end distance), the table's value there and
    its derivatives along the three axes."""
    nx, np_, ne = table.shape
    fx_i, wx = _lerp_index(xr, x_max, nx)
    fp_i, wp = _lerp_index(p, 1.0, np_)
    fe_i, we = _lerp_index(e, e_max, ne)
    v, dv_x, dv_p, dv_e = _lookup(table, fx_i, wx, fp_i, wp, fe_i, we)
    return fx_i, wx, fp_i, wp, fe_i, we, v, dv_x, dv_p, dv_e


def _stroke_geometry(q, s, arc):
    """Fill ``arc`` with stroke s's cumulative length at each sample point; return its length and bounds."""
    arc[0] = 0.0
    lo_x, hi_x, lo_y, hi_y = q[s, 0, 0], q[s, 0, 0], q[s, 0, 1], q[s, 0, 1]
    for k in range(q.shape[1] - 1):
        dx = q[s, k + 1, 0] - q[s, k, 0]
        dy = q[s, k + 1, 1] - q[s, k, 1]
        arc[k + 1] = arc[k] + math.sqrt(dx * dx + dy * dy)
        lo_x = min(lo_x, q[s, k + 1, 0])
        hi_x = max(hi_x, q[s, k + 1, 0])
        lo_y = min(lo_y, q[s, k + 1, 1])
        hi_y = max(hi_y, q[s, k + 1, 1])
    return arc[q.shape[1] - 1], lo_x, hi_x, lo_y, hi_y


def _pixel_range(lo, hi, reach, canvas):
    """Pixels [first, last) whose centres may lie within ``reach`` of the interval [lo, hi]."""
    return max(0, int(math.floor(lo - reach))), min(canvas, int(math.ceil(hi + reach)) + 1)


def _row_candidates(q, s, cy, reach, candidates, canvas):
    """Segments of stroke s that come within ``reach`` of row height ``cy`` (into ``candidates``), their count,
    and the pixel columns [first, last) they can reach."""
    count = 0
    lo = 1e30
    hi = -1e30
    for k in range(q.shape[1] - 1):
        ay = q[s, k, 1]
        by = q[s, k + 1, 1]
        if min(ay, by) - reach <= cy <= max(ay, by) + reach:
            candidates[count] = k
            count += 1
            lo = min(lo, min(q[s, k, 0], q[s, k + 1, 0]))
            hi = max(hi, max(q[s, k, 0], q[s, k + 1, 0]))
    first, last = _pixel_range(lo, hi, reach, canvas)
    return count, first, max(first, last)


def _nearest_on(q, s, cx, cy, candidates, count):
    """(squared distance, segment, parameter u in it, vector from the nearest point to the pixel)."""
    best = 1e30
    best_k = 0
    best_u = 0.0
    best_vx = 0.0
    best_vy = 0.0
    for j in range(count):
        k = candidates[j]
        ax = q[s, k, 0]
        ay = q[s, k, 1]
        abx = q[s, k + 1, 0] - ax
        aby = q[s, k + 1, 1] - ay
        l2 = abx * abx + aby * aby
        u = ((cx - ax) * abx + (cy - ay) * aby) / max(l2, 1e-12)
        u = min(max(u, 0.0), 1.0)
        vx = cx - (ax + u * abx)
        vy = cy - (ay + u * aby)
        d2 = vx * vx + vy * vy
        if d2 < best:
            best = d2
            best_k = k
            best_u = u
            best_vx = vx
            best_vy = vy
    return best, best_k, best_u, best_vx, best_vy


def _features(q, s, arc, length, p0, p1, radius, scale_table, cx, cy, candidates, count):
    """What the tables are read with at pixel (cx, cy) of stroke s (``arc``: its cumulative lengths)."""
    d2, k, u, vx, vy = _nearest_on(q, s, cx, cy, candidates, count)
    segments = q.shape[1] - 1
    t = (k + u) / segments
    p = p0[s] + (p1[s] - p0[s]) * t
    r_i, r_w = _lerp_index(p, 1.0, scale_table.shape[0])
    rscale = scale_table[r_i] * (1.0 - r_w) + scale_table[r_i + 1] * r_w
    d = math.sqrt(d2 + 1e-12)
    x1 = d / (radius[s] * rscale)
    along = arc[k] + u * (arc[k + 1] - arc[k])
    e = min(along, length - along) / radius[s]
    return d, k, u, vx, vy, t, p, r_i, r_w, rscale, x1, e


def _forward_kernel(q, p0, p1, radius, table, scale_table, x_max, e_max, reach_scale, base, paint, out):
    """out[s, c] = base - coverage x paint[s, c] over every stroke's pixels within reach (out holds ``base``).

    Coverage is the table's value clamped to [0, 1]; pixels beyond ``x_max`` radii get none.
    """
    canvas = out.shape[2]
    for s in numba.prange(q.shape[0]):
        arc = np.empty(q.shape[1])
        candidates = np.empty(q.shape[1], dtype=np.int64)
        length, lo_x, hi_x, lo_y, hi_y = _stroke_geometry(q, s, arc)
        reach = x_max * radius[s] * reach_scale
        y0, y1 = _pixel_range(lo_y, hi_y, reach, canvas)
        for y in range(y0, y1):
            count, x0, x1 = _row_candidates(q, s, y + 0.5, reach, candidates, canvas)
            for x in range(x0, x1):
                d, k, u, vx, vy, t, p, r_i, r_w, rscale, xr, e = _features(
                    q, s, arc, length, p0, p1, radius, scale_table, x + 0.5, y + 0.5, candidates, count)
                if xr >= x_max:
                    continue
                v = _table_at(table, xr, p, e, x_max, e_max)[6]
                v = min(max(v, 0.0), 1.0)
                for c in range(out.shape[1]):
                    out[s, c, y, x] = base - v * paint[s, c]


def _backward_kernel(grad, q, p0, p1, radius, table, scale_table, x_max, e_max, reach_scale, paint,
                     g_q, g_p0, g_p1, g_radius, g_paint, g_table, g_scale):
    """Scatter grad(out) into the sample points, pressures, radii, paint (per stroke) and tables (per chunk)."""
    n = q.shape[0]
    nx, np_, ne = table.shape
    canvas = grad.shape[2]
    chunks = g_table.shape[0]
    kx = (nx - 1) / x_max
    kp = np_ - 1.0
    ke = (ne - 1) / e_max
    ks = scale_table.shape[0] - 1.0
    for chunk in numba.prange(chunks):
        arc = np.empty(q.shape[1])
        candidates = np.empty(q.shape[1], dtype=np.int64)
        for s in range(chunk * n // chunks, (chunk + 1) * n // chunks):
            length, lo_x, hi_x, lo_y, hi_y = _stroke_geometry(q, s, arc)
            reach = x_max * radius[s] * reach_scale
            y0, y1 = _pixel_range(lo_y, hi_y, reach, canvas)
            for y in range(y0, y1):
                count, x0, x1 = _row_candidates(q, s, y + 0.5, reach, candidates, canvas)
                for x in range(x0, x1):
                    g = 0.0
                    for c in range(grad.shape[1]):
                        g -= grad[s, c, y, x] * paint[s, c]
                    if g == 0.0:
                        continue
                    d, k, u, vx, vy, t, p, r_i, r_w, rscale, xr, e = _features(
                        q, s, arc, length, p0, p1, radius, scale_table, x + 0.5, y + 0.5, candidates, count)
                    if xr >= x_max:
                        continue
                    fx_i, wx, fp_i, wp, fe_i, we, v, dv_x, dv_p, dv_e = _table_at(table, xr, p, e, x_max, e_max)
                    for c in range(grad.shape[1]):
                        g_paint[s, c] -= grad[s, c, y, x] * min(max(v, 0.0), 1.0)
                    if v < 0.0 or v > 1.0:
                        continue  # clamped: no gradient through the table
                    for a in range(2):
                        ax = wx if a else 1.0 - wx
                        for b in range(2):
                            bp = wp if b else 1.0 - wp
                            for cc in range(2):
                                ce = we if cc else 1.0 - we
                                g_table[chunk, fx_i + a, fp_i + b, fe_i + cc] += g * ax * bp * ce
                    da_dx1 = dv_x * kx
                    r = radius[s]
                    # x1 = d / (r * rscale(p)); e = min(along, length - along) / r
                    da_dd = da_dx1 / (r * rscale)
                    da_drscale = -da_dx1 * xr / rscale
                    da_dr = -da_dx1 * xr / r
                    if e < e_max:
                        da_dr -= dv_e * ke * e / r
                    g_scale[chunk, r_i] += g * da_drscale * (1.0 - r_w)
                    g_scale[chunk, r_i + 1] += g * da_drscale * r_w
                    da_dp = dv_p * kp + da_drscale * (scale_table[r_i + 1] - scale_table[r_i]) * ks
                    g_p0[s] += g * da_dp * (1.0 - t)
                    g_p1[s] += g * da_dp * t
                    g_radius[s] += g * da_dr
                    if d > 1e-6:
                        w = g * da_dd / d
                        g_q[s, k, 0] -= w * vx * (1.0 - u)
                        g_q[s, k, 1] -= w * vy * (1.0 - u)
                        g_q[s, k + 1, 0] -= w * vx * u
                        g_q[s, k + 1, 1] -= w * vy * u


if numba is not None:
    _lerp_index = numba.njit(inline="always", cache=True)(_lerp_index)
    _lookup = numba.njit(inline="always", cache=True)(_lookup)
    _table_at = numba.njit(inline="always", cache=True)(_table_at)
    _stroke_geometry = numba.njit(inline="always", cache=True)(_stroke_geometry)
    _pixel_range = numba.njit(inline="always", cache=True)(_pixel_range)
    _nearest_on = numba.njit(inline="always", fastmath=True, cache=True)(_nearest_on)
    _row_candidates = numba.njit(inline="always", cache=True)(_row_candidates)
    _features = numba.njit(inline="always", cache=True)(_features)
    _forward_kernel = numba.njit(parallel=True, cache=True)(_forward_kernel)
    _backward_kernel = numba.njit(parallel=True, cache=True)(_backward_kernel)


class _GuidedPaint(torch.autograd.Function):
    """``base - coverage x paint`` (N, C, H, W) on the CPU (numba), from sample points (N, S+1, 2),
    pressures, radii, paint (N, C) and the two tables; base 0 and paint -1 give the coverage itself."""

    @staticmethod
    def forward(ctx, q, p0, p1, radius, paint, table, scale_table, x_max, e_max, canvas, base):
        small = [t.detach().to(torch.float64).contiguous().numpy() for t in (q, p0, p1, radius, table, scale_table)]
        paint_np = paint.detach().to(torch.float64).contiguous().numpy()
        reach_scale = float(small[5].max())
        out = torch.full((len(q), paint.shape[1], canvas, canvas), base, dtype=torch.float32)
        _forward_kernel(*small, x_max, e_max, reach_scale, base, paint_np, out.numpy())
        ctx.save_for_backward(q, p0, p1, radius, paint, table, scale_table)
        ctx.settings = (x_max, e_max, reach_scale)
        return out.to(q.dtype)

    @staticmethod
    def backward(ctx, grad):
        q, p0, p1, radius, paint, table, scale_table = ctx.saved_tensors
        small = [t.detach().to(torch.float64).contiguous().numpy() for t in (q, p0, p1, radius, table, scale_table)]
        paint_np = paint.detach().to(torch.float64).contiguous().numpy()
        x_max, e_max, reach_scale = ctx.settings
        n = len(q)
        g_q = np.zeros_like(small[0])
        g_p0, g_p1, g_radius = np.zeros(n), np.zeros(n), np.zeros(n)
        g_paint = np.zeros_like(paint_np)
        g_table = np.zeros((GRAD_CHUNKS, *small[4].shape))
        g_scale = np.zeros((GRAD_CHUNKS, *small[5].shape))
        grad_np = grad.detach().contiguous().numpy()
        _backward_kernel(grad_np, *small, x_max, e_max, reach_scale, paint_np, g_q, g_p0, g_p1, g_radius, g_paint,
                         g_table, g_scale)
        grads = (g_q, g_p0, g_p1, g_radius, g_paint, g_table.sum(0), g_scale.sum(0))
        return (*(torch.from_numpy(g).to(q.dtype) for g in grads), None, None, None, None)


def _dense_coverage(q, p0, p1, radius, table, scale_table, x_max, e_max, canvas, chunk=64):
    """The same model as dense torch operations (any device); position along the stroke held as in numba."""
    device, dtype = q.device, q.dtype
    centres = (torch.arange(canvas, device=device, dtype=dtype) + 0.5)
    yy, xx = torch.meshgrid(centres, centres, indexing="ij")
    pixels = torch.stack([xx, yy], dim=-1).reshape(-1, 2)  # (P, 2)
    nx, np_, ne = table.shape
    segments = q.shape[1] - 1
    out = []
    for start in range(0, len(q), chunk):
        qc = q[start:start + chunk]
        a = qc[:, None, :-1]
        ab = qc[:, None, 1:] - a
        ap = pixels[None, :, None] - a
        u = ((ap * ab).sum(-1).detach() / (ab * ab).sum(-1).detach().clamp_min(1e-12)).clamp(0.0, 1.0)
        d2_all = (ap - u[..., None] * ab).square().sum(-1)
        k = d2_all.argmin(-1, keepdim=True)  # (C, P, 1)
        d = (d2_all.gather(-1, k)[..., 0] + 1e-12).sqrt()
        u_k = u.gather(-1, k)[..., 0]
        t = (k[..., 0].to(dtype) + u_k) / segments
        pc = p0[start:start + chunk, None] + (p1 - p0)[start:start + chunk, None] * t
        seg = (qc[:, 1:] - qc[:, :-1]).detach().norm(dim=-1)
        arc = torch.cat([torch.zeros_like(seg[:, :1]), seg.cumsum(1)], dim=1)
        along = arc.gather(1, k[..., 0]) + u_k * seg.gather(1, k[..., 0])
        e = torch.minimum(along, arc[:, -1:] - along) / radius[start:start + chunk, None]
        rscale = _interp1(scale_table, pc, 1.0)
        x1 = d / (radius[start:start + chunk, None] * rscale)
        value = _interp3(table, x1, pc, e, x_max, e_max).clamp(0.0, 1.0)
        out.append(torch.where(x1 < x_max, value, torch.zeros_like(value)).reshape(-1, canvas, canvas))
    return torch.cat(out)


def _interp1(knots, value, top):
    f = value.clamp(0.0, top) / top * (len(knots) - 1)
    i = f.detach().floor().clamp(max=len(knots) - 2).long()
    w = f - i
    return knots[i] * (1 - w) + knots[i + 1] * w


def _interp3(table, x, p, e, x_max, e_max):
    nx, np_, ne = table.shape

    def split(v, top, knots):
        f = v.clamp(0.0, top) / top * (knots - 1)
        i = f.detach().floor().clamp(max=knots - 2).long()
        return i, f - i

    ix, wx = split(x, x_max, nx)
    ip, wp = split(p, 1.0, np_)
    ie, we = split(e, e_max, ne)
    value = 0.0
    for a, fa in ((0, 1 - wx), (1, wx)):
        for b, fb in ((0, 1 - wp), (1, wp)):
            for c, fc in ((0, 1 - we), (1, we)):
                value = value + fa * fb * fc * table[ix + a, ip + b, ie + c]
    return value


@register
class GuidedPainter(Painter):
    """Coverage = learned brush response at (distance / radius(pressure), pressure, end distance)."""

    kind = "guided"
    default_learning_rate: ClassVar[float] = 0.02

    def __init__(self, canvas_px: int = 64, distance_knots: int = 33, pressure_knots: int = 11, end_knots: int = 9,
                 max_distance: float = 2.5, max_end_distance: float = 3.0, scale_knots: int = 11,
                 segments: int = SEGMENTS) -> None:
        super().__init__()
        self.canvas_px = canvas_px
        self.max_distance = max_distance
        self.max_end_distance = max_end_distance
        self.segments = segments
        x = torch.linspace(0.0, max_distance, distance_knots)
        disc = (1.0 - (x - 0.8) / 0.4).clamp(0.0, 1.0)  # start as a round brush of the nominal radius
        self.response = torch.nn.Parameter(disc[:, None, None].repeat(1, pressure_knots, end_knots))
        self.radius_scale = torch.nn.Parameter(torch.ones(scale_knots))
        mask = torch.ones(distance_knots, 1, 1)
        mask[-1] = 0.0  # no ink at the edge of reach, so coverage is continuous there
        self.register_buffer("edge_mask", mask, persistent=False)
        self.register_buffer("basis", _bezier_basis(segments).float(), persistent=False)

    def config(self) -> dict[str, Any]:
        nx, np_, ne = self.response.shape
        return {"canvas_px": self.canvas_px, "distance_knots": nx, "pressure_knots": np_, "end_knots": ne,
                "max_distance": self.max_distance, "max_end_distance": self.max_end_distance,
                "scale_knots": len(self.radius_scale), "segments": self.segments}

    def coverage(self, actions: torch.Tensor) -> torch.Tensor:
        return self.coverage_at(actions, self.canvas_px)

    def coverage_at(self, actions: torch.Tensor, canvas_px: int) -> torch.Tensor:
        """The model is continuous: it paints at any resolution directly."""
        minus_one = -torch.ones(len(actions), 1, dtype=actions.dtype, device=actions.device)
        return self._paint(actions, minus_one, 0.0, canvas_px)[:, 0]

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        return self._paint(actions, 1.0 - actions[:, COLOUR], 1.0, self.canvas_px)

    def _paint(self, actions: torch.Tensor, paint: torch.Tensor, base: float, canvas: int) -> torch.Tensor:
        """``base - coverage x paint`` for paint (N, C): the image on white (base 1) or the coverage."""
        points = actions[:, POINTS].reshape(-1, 3, 2) * canvas
        q = torch.einsum("mk,nkd->nmd", self.basis.to(actions.dtype), points)
        radius = canvas * (RADIUS_MIN_FRACTION + (RADIUS_MAX_FRACTION - RADIUS_MIN_FRACTION) * actions[:, SIZE])
        p0, p1 = actions[:, PRESSURE].unbind(1)
        table = (self.response * self.edge_mask).to(actions.dtype)
        scale = self.radius_scale.clamp(0.25, 4.0).to(actions.dtype)
        if numba is not None and actions.device.type == "cpu":
            return _GuidedPaint.apply(q, p0, p1, radius, paint, table, scale, self.max_distance,
                                      self.max_end_distance, canvas, base)
        alpha = _dense_coverage(q, p0, p1, radius, table, scale, self.max_distance, self.max_end_distance, canvas)
        return base - alpha[:, None] * paint[:, :, None, None]

    def train_step(
        self, actions: torch.Tensor, images: torch.Tensor, optimisers: list[torch.optim.Optimizer], step: int,
        total_steps: int, model: torch.nn.Module | None = None,
    ) -> dict[str, float]:
        """MSE of the painted strokes, with the learning rate on a cosine from its start value to zero."""
        optimiser = optimisers[0]
        decay = 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))
        for group in optimiser.param_groups:
            group.setdefault("start_lr", group["lr"])
            group["lr"] = group["start_lr"] * decay
        optimiser.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss((model or self)(actions), images)
        loss.backward()
        optimiser.step()
        return {"mse": float(loss.detach())}
