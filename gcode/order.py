"""Pen-up travel ordering: which path to draw next, and in which direction.

This is an open travelling-salesman path over paths that may each be drawn either way. It is solved as a
closed tour of oriented paths plus one extra path whose entry is "free" (zero distance to every point) and
whose exit is the pen's start: the tour's closing edge then costs nothing, so the end of the drawing is free.
Reversing a stretch of that tour (2-opt) reverses both the order and the direction of its paths, which is
exactly a valid move here; a stretch and the rest of the cycle give the same tour, so the shorter is reversed.

1. Greedy nearest neighbour from the start, with reversal (K nearest endpoints first, a grid when all are taken).
2. Local search on K-nearest-endpoint candidate lists with a work queue ("don't-look bits"): 2-opt moves and
   Or-opt moves (1-3 paths moved elsewhere, either way round).
3. Iterated local search: a segment swap ("double bridge") at a random place, local repair, undone if worse.
   The number of kicks is a fixed function of N: same input and seed, same result.
Up to EXACT_MAX paths a dynamic programme over subsets gives the optimum instead.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.spatial import cKDTree

EXACT_MAX = 10  # paths; the subset programme takes 2**N * N * 2 states
NEIGHBOURS = 10  # candidate endpoints per endpoint for the local search
KICK_SEGMENT = 30  # longest segment a double-bridge kick swaps, in paths
EPS = 1e-9  # mm; smaller gains are rounding, not improvement
ILS_SPAN = 5000  # paths; longest reversal while repairing after a kick, which keeps kicks cheap at large N
MIN_KICKS = 1000  # kicks for any N of 100 to 5000 paths
KICKS_PER_PATH_INV = 5  # past 5000 paths, a kick per five paths


def order_paths(
    starts: np.ndarray, ends: np.ndarray, start: complex = 0j, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Order N paths (start and end points, complex x + 1j*y in mm) to minimise pen-up travel from ``start``.

    Returns (order, reversed): a permutation of range(N), and for each ``order[k]`` whether it is drawn from
    its end to its start. The end of the last path is free (no return).
    """
    starts = np.asarray(starts, dtype=np.complex128).ravel()
    ends = np.asarray(ends, dtype=np.complex128).ravel()
    n = starts.shape[0]
    if n <= EXACT_MAX:
        start = complex(start)
        return _exact(starts.real, starts.imag, ends.real, ends.imag, start.real, start.imag)
    return _heuristic(starts, ends, complex(start), seed, _kicks_for(n))


def travel_mm(
    starts: np.ndarray, ends: np.ndarray, order: np.ndarray, reversed: np.ndarray, start: complex = 0j
) -> float:
    """Pen-up travel of an ordering: ``start`` to the first entry, then each exit to the next entry."""
    if len(order) == 0:
        return 0.0
    starts = np.asarray(starts, dtype=np.complex128)[order]
    ends = np.asarray(ends, dtype=np.complex128)[order]
    entries = np.where(reversed, ends, starts)
    exits = np.where(reversed, starts, ends)
    return float(abs(entries[0] - start) + np.abs(entries[1:] - exits[:-1]).sum())


def _kicks_for(n: int) -> int:
    """Iterated-local-search kicks for N paths: ten per path up to MIN_KICKS, then one per KICKS_PER_PATH_INV.

    The first kicks gain the most (on the demo's 5,000 lines the first 1,000 take off 4 % of the travel, the
    next 49,000 another 5 %), and a kick costs about the same at any N (tens of microseconds): so the
    ordering stays a small, bounded share of a whole plan, whose SVG reading costs more per path.
    """
    return max(min(10 * n, MIN_KICKS), n // KICKS_PER_PATH_INV)


def _heuristic(starts: np.ndarray, ends: np.ndarray, start: complex, seed: int, kicks: int):
    """Greedy, local search and iterated local search (see the module docstring); any N >= 1."""
    n = starts.shape[0]
    m = n + 1
    # endpoint nodes: 2p = entry side of path p, 2p + 1 = exit side; path 0 = (free, start), path i + 1 = input i
    points = np.empty(2 * m, dtype=np.complex128)
    points[0] = start
    points[1] = start
    points[2::2] = starts
    points[3::2] = ends
    x = np.ascontiguousarray(points.real)
    y = np.ascontiguousarray(points.imag)
    tour, pos = _solve(x, y, _nearest(x, y, NEIGHBOURS), NEIGHBOURS, kicks, np.uint64(seed & 0xFFFFFFFFFFFFFFFF))
    codes = np.roll(tour, -int(pos[0]))
    if codes[0] == 1:  # read the cycle the other way round so that the start comes first
        codes = np.roll(codes[::-1], 1) ^ 1
    codes = codes[1:]
    return (codes >> 1) - 1, (codes & 1).astype(bool)


def _nearest(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """The k-d tree's nearest endpoints of each endpoint node (row e - 1 for node e), itself among them."""
    count = x.shape[0] - 1  # node 0 (free) has no position
    tree = cKDTree(np.column_stack((x[1:], y[1:])))
    _, idx = tree.query(tree.data, k=min(k + 2, count), workers=-1)
    return idx.reshape(count, -1)


@numba.njit(cache=True)
def _solve(x, y, nearest, k, kicks, seed):
    """Candidate lists, greedy tour, local search and kicks in one compiled call; the tour and path positions."""
    nb = _fill_neighbours(nearest, k, x.shape[0] - 1)
    tour = _greedy(x, y, nb)
    m = tour.shape[0]
    pos = np.empty(m, dtype=np.int64)
    for i in range(m):
        pos[tour[i] >> 1] = i
    _optimise(tour, pos, x, y, nb, kicks, seed, ILS_SPAN)
    return tour, pos


@numba.njit(cache=True)
def _fill_neighbours(idx, k, count):
    """Drop each node itself, its own path's other end and missing hits from the k-d tree's answer."""
    nb = np.full((count + 1, k + 1), -1, dtype=np.int64)
    for e in range(1, count + 1):
        nb[e, 0] = 0
        filled = 1
        for j in range(idx.shape[1]):
            other = idx[e - 1, j] + 1
            if filled > k:
                break
            if other > count or other == e or other == (e ^ 1):
                continue
            nb[e, filled] = other
            filled += 1
    return nb


@numba.njit(cache=True)
def _dist(x, y, e, f):
    """Pen-up distance between endpoint nodes; node 0 is the free end, at zero distance from everything."""
    if e == 0 or f == 0:
        return 0.0
    dx = x[e] - x[f]
    dy = y[e] - y[f]
    return math.sqrt(dx * dx + dy * dy)


@numba.njit(cache=True)
def _is_exit(tour, pos, e):
    """Whether node e is currently its path's exit (its pen-up edge goes forward along the tour array)."""
    return tour[pos[e >> 1]] != e


@numba.njit(cache=True)
def _partner(tour, pos, e):
    """The node at the other end of e's pen-up edge."""
    m = tour.shape[0]
    k = pos[e >> 1]
    if tour[k] == e:
        return tour[(k - 1 + m) % m] ^ 1
    return tour[(k + 1) % m]


@numba.njit(cache=True)
def _reverse(tour, pos, i, j):
    """Reverse and flip the paths at positions i..j (cyclic), or the rest of the cycle if that is shorter."""
    m = tour.shape[0]
    n = (j - i + m) % m + 1
    if 2 * n > m:
        i, j, n = (j + 1) % m, (i - 1 + m) % m, m - n
    for _ in range(n // 2):
        ci = tour[i]
        cj = tour[j]
        tour[i] = cj ^ 1
        pos[cj >> 1] = i
        tour[j] = ci ^ 1
        pos[ci >> 1] = j
        i = i + 1 if i + 1 < m else 0
        j = j - 1 if j > 0 else m - 1
    if n % 2 == 1:
        tour[i] ^= 1


@numba.njit(cache=True)
def _shorter(offset, m):
    """Length of the shorter way round a cycle of m between positions ``offset`` apart."""
    offset = abs(offset) % m
    return min(offset, m - offset)


@numba.njit(cache=True)
def _two_opt(tour, pos, a, b, c, d):
    """Replace pen-up edges {a, b} and {c, d} with {a, c} and {b, d}; c -> d must run the way a -> b runs."""
    if _is_exit(tour, pos, a):
        _reverse(tour, pos, pos[b >> 1], pos[c >> 1])
    else:
        _reverse(tour, pos, pos[a >> 1], pos[d >> 1])


@numba.njit(cache=True)
def _apply(tour, pos, a, b, c, d, journal, js):
    """A 2-opt move, written to the journal while one is being kept (js = [length, recording])."""
    _two_opt(tour, pos, a, b, c, d)
    if js[1]:
        journal[js[0], 0] = a
        journal[js[0], 1] = b
        journal[js[0], 2] = c
        journal[js[0], 3] = d
        js[0] += 1


@numba.njit(cache=True)
def _push(queue, queued, qs, p):
    """Put path p on the work queue (qs = [head, size]) unless it is there already."""
    if not queued[p]:
        queued[p] = True
        queue[(qs[0] + qs[1]) % queue.shape[0]] = p
        qs[1] += 1


@numba.njit(cache=True)
def _try_two_opt(e, tour, pos, x, y, nb, queue, queued, qs, journal, js, span):
    """First improving 2-opt move that gives node e a nearer pen-up partner; returns its gain (0 if none).

    Moves that would reverse more than ``span`` paths (on the shorter side) are skipped.
    """
    m = tour.shape[0]
    b = _partner(tour, pos, e)
    dab = _dist(x, y, e, b)
    e_exit = _is_exit(tour, pos, e)
    for k in range(nb.shape[1]):
        c = nb[e, k]
        if c < 0:
            break
        g1 = dab - _dist(x, y, e, c)
        if g1 <= EPS:
            break
        if c == b or _is_exit(tour, pos, c) != e_exit:
            continue
        d = _partner(tour, pos, c)
        gain = g1 + _dist(x, y, c, d) - _dist(x, y, b, d)
        if gain > EPS and _shorter(pos[b >> 1] - pos[c >> 1], m) <= span:
            _apply(tour, pos, e, b, c, d, journal, js)
            for node in (e, b, c, d):
                _push(queue, queued, qs, node >> 1)
            return gain
    return 0.0


@numba.njit(cache=True)
def _try_or_opt(i, length, tour, pos, x, y, nb, queue, queued, qs, journal, js, span):
    """First improving move of the paths at positions i..i+length-1 between two others, either way round."""
    m = tour.shape[0]
    if length + 3 > m:
        return 0.0
    s1 = tour[i % m]
    s2 = tour[(i + length - 1) % m] ^ 1
    p = tour[(i - 1 + m) % m] ^ 1
    n = tour[(i + length) % m]
    g1 = _dist(x, y, p, s1) + _dist(x, y, s2, n) - _dist(x, y, p, n)
    if g1 <= EPS:
        return 0.0
    for side in range(2):
        s = s1 if side == 0 else s2
        other = s2 if side == 0 else s1
        for k in range(nb.shape[1]):
            c = nb[s, k]
            if c < 0:
                break
            dsc = _dist(x, y, s, c)
            if dsc >= g1 - EPS:
                break
            if (pos[c >> 1] - i + m) % m < length or _shorter(pos[c >> 1] - i, m) > span:
                continue
            d = _partner(tour, pos, c)
            if (pos[d >> 1] - i + m) % m < length:
                continue
            gain = g1 + _dist(x, y, c, d) - dsc - _dist(x, y, other, d)
            if gain > EPS:
                u, v = (c, d) if _is_exit(tour, pos, c) else (d, c)
                _apply(tour, pos, p, s1, u, v, journal, js)  # -> {p, u}, {s1, v}
                _apply(tour, pos, p, u, n, s2, journal, js)  # -> {p, n}, {u, s2}
                if (c == u) == (s == s1):
                    _apply(tour, pos, u, s2, s1, v, journal, js)  # -> {u, s1}, {s2, v}
                for node in (p, s1, s2, n, c, d):
                    _push(queue, queued, qs, node >> 1)
                return gain
    return 0.0


@numba.njit(cache=True)
def _improve(q, tour, pos, x, y, nb, queue, queued, qs, journal, js, span):
    """Try 2-opt from both ends of path q, then Or-opt of 1-3 paths starting or ending at q."""
    for e in (2 * q, 2 * q + 1):
        if e != 0:
            gain = _try_two_opt(e, tour, pos, x, y, nb, queue, queued, qs, journal, js, span)
            if gain > 0.0:
                return gain
    m = tour.shape[0]
    for length in range(1, 4):
        for first in (pos[q], (pos[q] - length + 1 + m) % m):
            gain = _try_or_opt(first, length, tour, pos, x, y, nb, queue, queued, qs, journal, js, span)
            if gain > 0.0:
                return gain
            if length == 1:
                break
    return 0.0


@numba.njit(cache=True)
def _local_search(tour, pos, x, y, nb, queue, queued, qs, journal, js, span):
    """Improve until no queued path has an improving move (or the journal is full); returns the total gain."""
    m = tour.shape[0]
    total = 0.0
    while qs[1] > 0:
        if js[1] and js[0] + 3 > journal.shape[0]:
            break
        q = queue[qs[0]]
        qs[0] = (qs[0] + 1) % m
        qs[1] -= 1
        queued[q] = False
        total += _improve(q, tour, pos, x, y, nb, queue, queued, qs, journal, js, span)
    while qs[1] > 0:  # left over after a full journal
        queued[queue[qs[0]]] = False
        qs[0] = (qs[0] + 1) % m
        qs[1] -= 1
    return total


@numba.njit(cache=True)
def _random(state):
    """splitmix64: the next pseudo-random 64-bit number from ``state`` (a one-element uint64 array)."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True)
def _below(state, n):
    """A pseudo-random integer in [0, n)."""
    return np.int64(_random(state) % np.uint64(n))


@numba.njit(cache=True)
def _optimise(tour, pos, x, y, nb, kicks, seed, span):
    """Local search from the given tour, then ``kicks`` double-bridge kicks each followed by local repair.

    The repairs skip moves that reverse more than ``span`` paths, so that a kick costs little even at large N.
    """
    m = tour.shape[0]
    queue = np.empty(m, dtype=np.int64)
    queued = np.zeros(m, dtype=np.bool_)
    qs = np.zeros(2, dtype=np.int64)
    journal = np.empty((4096, 4), dtype=np.int64)
    js = np.zeros(2, dtype=np.int64)
    for q in range(m):
        _push(queue, queued, qs, q)
    _local_search(tour, pos, x, y, nb, queue, queued, qs, journal, js, m)
    if m < 4:  # a kick needs four distinct paths
        return
    state = np.array([seed], dtype=np.uint64)
    longest = min(KICK_SEGMENT, (m - 2) // 2)
    js[1] = 1
    for _ in range(kicks):
        i = _below(state, m)
        l1 = 1 + _below(state, longest)
        l2 = 1 + _below(state, longest)
        a = tour[i] ^ 1
        b1 = tour[(i + 1) % m]
        b2 = tour[(i + l1) % m] ^ 1
        c1 = tour[(i + l1 + 1) % m]
        c2 = tour[(i + l1 + l2) % m] ^ 1
        d = tour[(i + l1 + l2 + 1) % m]
        delta = (
            _dist(x, y, a, c1) + _dist(x, y, c2, b1) + _dist(x, y, b2, d)
            - _dist(x, y, a, b1) - _dist(x, y, b2, c1) - _dist(x, y, c2, d)
        )
        js[0] = 0
        # A B C D -> A C B D: reverse B C, then C, then B
        _apply(tour, pos, a, b1, c2, d, journal, js)
        _apply(tour, pos, a, c2, c1, b2, journal, js)
        _apply(tour, pos, c2, b2, b1, d, journal, js)
        for node in (a, b1, b2, c1, c2, d):
            _push(queue, queued, qs, node >> 1)
        gain = _local_search(tour, pos, x, y, nb, queue, queued, qs, journal, js, span)
        if delta - gain > EPS:
            for r in range(js[0] - 1, -1, -1):
                _two_opt(tour, pos, journal[r, 0], journal[r, 2], journal[r, 1], journal[r, 3])


@numba.njit(cache=True)
def _greedy(x, y, nb):
    """Nearest-neighbour tour of oriented paths from the start, path 0 first (codes 2p or 2p + 1)."""
    m = x.shape[0] // 2
    tour = np.empty(m, dtype=np.int64)
    tour[0] = 0
    used = np.zeros(m, dtype=np.bool_)
    used[0] = True
    # a uniform grid over the path endpoints (nodes 2 ..), about two per cell, emptied as paths are used
    n_nodes = 2 * m - 2
    x0 = x[2:].min()
    y0 = y[2:].min()
    w = x[2:].max() - x0
    h = y[2:].max() - y0
    cell = max(math.sqrt(w * h * 2.0 / n_nodes), max(w, h) * 2.0 / n_nodes, 1e-9)
    gx = int(w / cell) + 1
    gy = int(h / cell) + 1
    cell_of = np.empty(2 * m, dtype=np.int64)
    begin = np.zeros(gx * gy + 1, dtype=np.int64)
    for e in range(2, 2 * m):
        cx = min(int((x[e] - x0) / cell), gx - 1)
        cy = min(int((y[e] - y0) / cell), gy - 1)
        cell_of[e] = cy * gx + cx
        begin[cell_of[e] + 1] += 1
    for c in range(gx * gy):
        begin[c + 1] += begin[c]
    alive = np.zeros(gx * gy, dtype=np.int64)
    items = np.empty(n_nodes, dtype=np.int64)
    where = np.empty(2 * m, dtype=np.int64)
    for e in range(2, 2 * m):
        c = cell_of[e]
        where[e] = begin[c] + alive[c]
        items[where[e]] = e
        alive[c] += 1
    current = 1
    for k in range(1, m):
        best = -1
        for j in range(nb.shape[1]):
            e = nb[current, j]
            if e < 0:
                break
            if e >= 2 and not used[e >> 1]:
                best = e
                break
        if best < 0:
            best = _grid_nearest(x[current], y[current], x, y, x0, y0, cell, gx, gy, begin, alive, items)
        q = best >> 1
        used[q] = True
        tour[k] = best
        for e in (2 * q, 2 * q + 1):
            c = cell_of[e]
            last = begin[c] + alive[c] - 1
            moved = items[last]
            items[where[e]] = moved
            where[moved] = where[e]
            items[last] = e
            where[e] = last
            alive[c] -= 1
        current = best ^ 1
    return tour


@numba.njit(cache=True)
def _grid_nearest(qx, qy, x, y, x0, y0, cell, gx, gy, begin, alive, items):
    """Nearest node still in the grid to (qx, qy): rings of cells outward until none can hold a nearer one."""
    cx = min(max(int((qx - x0) / cell), 0), gx - 1)
    cy = min(max(int((qy - y0) / cell), 0), gy - 1)
    reach = max(cx, gx - 1 - cx, cy, gy - 1 - cy)
    best = -1
    best_d2 = np.inf
    for r in range(reach + 1):
        for iy in range(max(cy - r, 0), min(cy + r, gy - 1) + 1):
            step = 1 if iy == cy - r or iy == cy + r else 2 * r
            ix = cx - r
            while ix <= cx + r:
                if 0 <= ix < gx:
                    c = iy * gx + ix
                    for s in range(begin[c], begin[c] + alive[c]):
                        e = items[s]
                        d2 = (x[e] - qx) ** 2 + (y[e] - qy) ** 2
                        if d2 < best_d2:
                            best_d2 = d2
                            best = e
                ix += max(step, 1)
        if best >= 0 and best_d2 <= (r * cell) ** 2:
            break
    return best


@numba.njit(cache=True)
def _exact(sx, sy, ex, ey, ox, oy):
    """Optimal (order, reversed) by dynamic programming over subsets of paths drawn, last path and its direction."""
    n = sx.shape[0]
    full = 1 << n
    cost = np.full((full, max(n, 1), 2), np.inf)
    parent = np.full((full, max(n, 1), 2), -1, dtype=np.int64)
    for i in range(n):
        cost[1 << i, i, 0] = math.hypot(sx[i] - ox, sy[i] - oy)
        cost[1 << i, i, 1] = math.hypot(ex[i] - ox, ey[i] - oy)
    for mask in range(1, full):
        for i in range(n):
            if not (mask >> i) & 1:
                continue
            for f in range(2):
                here = cost[mask, i, f]
                px, py = (ex[i], ey[i]) if f == 0 else (sx[i], sy[i])
                for j in range(n):
                    if (mask >> j) & 1:
                        continue
                    for g in range(2):
                        qx, qy = (sx[j], sy[j]) if g == 0 else (ex[j], ey[j])
                        there = here + math.hypot(qx - px, qy - py)
                        if there < cost[mask | (1 << j), j, g]:
                            cost[mask | (1 << j), j, g] = there
                            parent[mask | (1 << j), j, g] = 2 * i + f
    order = np.empty(n, dtype=np.int64)
    reversed_ = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return order, reversed_
    best = 0
    for s in range(2 * n):
        if cost[full - 1, s >> 1, s & 1] < cost[full - 1, best >> 1, best & 1]:
            best = s
    mask = full - 1
    for k in range(n - 1, -1, -1):
        i, f = best >> 1, best & 1
        order[k] = i
        reversed_[k] = f == 1
        best = parent[mask, i, f]
        mask ^= 1 << i
    return order, reversed_
