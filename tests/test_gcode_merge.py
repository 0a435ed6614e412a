"""Merging touching lines: the same lines, order and directions as vpype's own merge, found faster."""

from __future__ import annotations

import numpy as np
import pytest
import vpype

from gcode.merge import merge_lines


def random_lines(seed: int, n: int, shared: bool) -> list[np.ndarray]:
    """Short polylines on a 30 mm square; with ``shared``, ends snapped to a 1 mm grid, so many meet exactly."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        points = complex(*rng.uniform(0, 30, 2)) + np.cumsum(rng.normal(0, 1, rng.integers(2, 5)) * (1 + 1j))
        if shared:
            points[[0, -1]] = np.round(points[[0, -1]].real) + 1j * np.round(points[[0, -1]].imag)
        lines.append(points)
    return lines


@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("tolerance", [0.0, 0.05, 0.5])
@pytest.mark.parametrize("shared", [False, True])
def test_merge_lines_gives_exactly_what_vpype_merge_gives(shared, tolerance, flip):
    lines = vpype.LineCollection(random_lines(7, 400, shared), metadata={vpype.METADATA_FIELD_NAME: "black"})
    expected = lines.clone(lines)
    expected.merge(tolerance=tolerance, flip=flip)
    merged = merge_lines(lines, tolerance, flip)
    assert len(merged) == len(expected)
    assert len(expected) < len(lines) or tolerance == 0  # vpype joins nothing at tolerance 0, not even equal ends
    assert all(np.array_equal(a, b) for a, b in zip(merged, expected))
    assert merged.property(vpype.METADATA_FIELD_NAME) == "black"
    assert len(lines) == 400  # the input is left as it was


def test_merge_lines_leaves_fewer_than_two_lines_as_they_are():
    one = vpype.LineCollection([np.array([0j, 1 + 1j])])
    assert np.array_equal(merge_lines(one, 0.1)[0], one[0])
