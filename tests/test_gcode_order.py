"""Pen-travel ordering: which path next and which way round, so that pen-up travel is short."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gcode import order
from gcode.order import EXACT_MAX, order_paths, travel_mm


def random_lines(n: int, seed: int, size: float = 200.0) -> tuple[np.ndarray, np.ndarray]:
    """N lines 1-5 mm long in random directions, centred uniformly in a size x size mm square."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, size, n) + 1j * rng.uniform(0, size, n)
    half = 0.5 * rng.uniform(1, 5, n) * np.exp(1j * rng.uniform(0, 2 * np.pi, n))
    return centres - half, centres + half


def brute_force_mm(starts: np.ndarray, ends: np.ndarray, start: complex) -> float:
    """Least travel over every order; for each order the best directions come from an exact two-state recurrence."""
    n = len(starts)
    perms = np.array(list(itertools.permutations(range(n))))
    ends_ = np.stack([starts[perms], ends[perms]], axis=-1)  # [perm, k, 0] = start, [perm, k, 1] = end
    # cost[:, f]: best travel so far with the current path entered at ends_[..., f] (so left at 1 - f)
    cost = np.abs(ends_[:, 0, :] - start)
    for k in range(1, n):
        hop = np.abs(ends_[:, k, None, :] - ends_[:, k - 1, ::-1, None])  # [perm, previous f, next f]
        cost = (cost[:, :, None] + hop).min(axis=1)
    return float(cost.min())


def greedy_mm(starts: np.ndarray, ends: np.ndarray, start: complex) -> float:
    """Travel of plain nearest-neighbour ordering with reversal, the baseline to beat."""
    left = set(range(len(starts)))
    here, travel = start, 0.0
    while left:
        i, flip = min(((i, f) for i in left for f in (False, True)),
                      key=lambda c: abs((ends if c[1] else starts)[c[0]] - here))
        travel += abs((ends if flip else starts)[i] - here)
        here = (starts if flip else ends)[i]
        left.remove(i)
    return travel


def test_the_result_is_a_permutation_with_one_direction_per_path():
    starts, ends = random_lines(300, seed=1)
    ordering, reversed_ = order_paths(starts, ends, start=0j, seed=0)
    assert ordering.dtype == np.int64 and reversed_.dtype == bool
    assert ordering.shape == reversed_.shape == (300,)
    assert sorted(ordering) == list(range(300))


def test_travel_is_from_the_start_to_the_first_entry_then_from_each_exit_to_the_next_entry():
    starts = np.array([1 + 0j, 10 + 0j, 0 + 5j])
    ends = np.array([2 + 0j, 3 + 0j, 0 + 9j])
    # from (0, 1): to (1, 0) [sqrt 2], draw to (2, 0); to (3, 0) [1], draw to (10, 0); to (0, 5) [sqrt 125]
    travel = travel_mm(starts, ends, np.array([0, 1, 2]), np.array([False, True, False]), start=1j)
    assert travel == pytest.approx(np.sqrt(2) + 1 + np.sqrt(125))
    assert travel_mm(starts[:0], ends[:0], np.array([], dtype=np.int64), np.array([], dtype=bool)) == 0.0


def test_a_line_is_drawn_backwards_when_its_end_is_the_nearer_way_in():
    starts = np.array([1 + 0j, 10 + 0j])
    ends = np.array([2 + 0j, 3 + 0j])
    ordering, reversed_ = order_paths(starts, ends)
    assert list(ordering) == [0, 1] and list(reversed_) == [False, True]
    assert travel_mm(starts, ends, ordering, reversed_) == pytest.approx(2.0)


@pytest.mark.parametrize("n", range(1, 9))
def test_small_instances_get_the_optimum(n):
    for seed in range(4):
        starts, ends = random_lines(n, seed, size=20.0)
        start = complex(*np.random.default_rng(seed).uniform(-5, 25, 2))
        ordering, reversed_ = order_paths(starts, ends, start=start, seed=seed)
        assert travel_mm(starts, ends, ordering, reversed_, start) == pytest.approx(
            brute_force_mm(starts, ends, start), abs=1e-9)


@pytest.mark.parametrize("n", [2, 4, 6, 8])
def test_the_local_search_alone_also_finds_small_optima(n):
    # order_paths solves these exactly; the heuristic it uses above EXACT_MAX paths must reach the same
    for seed in range(4):
        starts, ends = random_lines(n, seed, size=20.0)
        ordering, reversed_ = order._heuristic(starts, ends, 0j, seed, order._kicks_for(n))
        assert sorted(ordering) == list(range(n))
        assert travel_mm(starts, ends, ordering, reversed_) == pytest.approx(brute_force_mm(starts, ends, 0j),
                                                                            abs=1e-9)


def test_just_above_the_exact_size_the_heuristic_still_finds_the_optimum():
    n = EXACT_MAX + 2
    for seed in range(3):
        starts, ends = random_lines(n, seed, size=30.0)
        exact = order._exact(starts.real, starts.imag, ends.real, ends.imag, 0.0, 0.0)
        assert travel_mm(starts, ends, *order_paths(starts, ends, seed=seed)) == pytest.approx(
            travel_mm(starts, ends, *exact), abs=1e-9)


@pytest.mark.parametrize("n", [20, 100, 500])
def test_never_worse_than_greedy_and_well_ahead_of_it_on_many_lines(n):
    for seed in range(3):
        starts, ends = random_lines(n, seed)
        ours = travel_mm(starts, ends, *order_paths(starts, ends, seed=seed))
        assert ours <= greedy_mm(starts, ends, 0j) + 1e-9
        if n == 500:
            assert ours < 0.85 * greedy_mm(starts, ends, 0j)


def test_same_input_and_seed_give_the_same_result_bit_for_bit():
    starts, ends = random_lines(400, seed=3)
    first = order_paths(starts, ends, start=5 + 5j, seed=7)
    again = order_paths(starts.copy(), ends.copy(), start=5 + 5j, seed=7)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])


def test_more_paths_never_get_fewer_kicks_and_the_kicks_pay_for_themselves_on_a_thousand_lines():
    assert all(order._kicks_for(n) <= order._kicks_for(n + 1) <= 10 * (n + 1) for n in range(1, 20_000, 7))
    starts, ends = random_lines(1000, seed=0)
    without = travel_mm(starts, ends, *order._heuristic(starts, ends, 0j, 0, 0))
    assert travel_mm(starts, ends, *order_paths(starts, ends)) < 0.98 * without


def test_no_paths_and_one_path():
    empty = np.array([], dtype=np.complex128)
    ordering, reversed_ = order_paths(empty, empty)
    assert ordering.shape == reversed_.shape == (0,)
    ordering, reversed_ = order_paths(np.array([10 + 0j]), np.array([1 + 0j]))
    assert list(ordering) == [0] and list(reversed_) == [True]  # its end is nearer the pen


def test_dots_closed_paths_and_shared_points_are_ordered_like_anything_else():
    rng = np.random.default_rng(4)
    dots = rng.uniform(0, 50, 40) + 1j * rng.uniform(0, 50, 40)  # zero-length: start == end
    loops = rng.uniform(0, 50, 40) + 1j * rng.uniform(0, 50, 40)  # closed: back where they began
    lines, line_ends = random_lines(40, seed=5, size=50.0)
    shared = np.repeat(lines[:10], 3)  # three paths leave from each of these points
    starts = np.concatenate([dots, loops, lines, shared])
    ends = np.concatenate([dots, loops, line_ends, shared + 2])
    ordering, reversed_ = order_paths(starts, ends, seed=1)
    assert sorted(ordering) == list(range(len(starts)))
    assert travel_mm(starts, ends, ordering, reversed_) <= greedy_mm(starts, ends, 0j) + 1e-9


def test_many_dots_on_one_spot_cost_only_the_way_there():
    spot = np.full(50, 30 + 40j)
    ordering, reversed_ = order_paths(spot, spot)
    assert sorted(ordering) == list(range(50))
    assert travel_mm(spot, spot, ordering, reversed_) == pytest.approx(50.0)


def test_a_scrambled_chain_is_drawn_end_to_end_without_lifting_the_pen():
    # a zigzag cut into 200 segments, shuffled and half of them flipped; the pen starts near one end
    corners = np.cumsum(np.where(np.arange(201) % 2 == 0, 1 + 0j, 1 + 3j))
    rng = np.random.default_rng(6)
    shuffle = rng.permutation(200)
    flip = rng.random(200) < 0.5
    starts = np.where(flip, corners[1:], corners[:-1])[shuffle]
    ends = np.where(flip, corners[:-1], corners[1:])[shuffle]
    ordering, reversed_ = order_paths(starts, ends, start=corners[0] - 2, seed=0)
    assert travel_mm(starts, ends, ordering, reversed_, start=corners[0] - 2) == pytest.approx(2.0)
