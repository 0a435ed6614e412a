"""Curves reach the machine within the tolerance in machine millimetres, as lines or as G2/G3 arcs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import svgpathtools

from calibration import default_profile
from gcode import Move, PlanOptions, emit_gcode, plan_drawing, read_program

# A 20 x 20 mm page: layout enlarges it 9.5 times onto the A4 drawing area (190 mm wide).
CURVES = """<svg xmlns="http://www.w3.org/2000/svg" width="20mm" height="20mm" viewBox="0 0 20 20">
  <circle cx="10" cy="10" r="9" fill="none" stroke="black"/>
  <path d="M 2 18 C 6 2 14 30 18 4" fill="none" stroke="black"/>
</svg>
"""
SCALE = 190 / 20


def plan_program(tmp_path: Path, **options) -> tuple[list[str], object]:
    path = tmp_path / "curves.svg"
    path.write_text(CURVES)
    planned = plan_drawing(path, default_profile(), PlanOptions(**options))
    opts = planned.options
    program = emit_gcode(planned.document, default_profile(), arcs=opts.arcs, arc_tolerance_mm=opts.arc_tolerance_mm)
    return program, planned.placement


def drawn_points(program: list[str]) -> np.ndarray:
    """Every point the pen passes while down (arcs as the reader flattens them, 0.01 mm chords) and chord midpoints."""
    moves = [m for m in read_program(program) if isinstance(m, Move) and m.pen_down]
    ends = np.array([complex(*m.end) for m in moves])
    starts = np.array([complex(*m.start) for m in moves])
    return np.concatenate([ends, (starts + ends) / 2])


def to_page_mm(points: np.ndarray, placement) -> np.ndarray:
    """Machine points back in the SVG's own units (mm on the 20 mm page; A4 has its origin bottom-left)."""
    xmin, ymin, xmax, ymax = placement.page_rect_mm
    return (points.real - xmin) / SCALE + 1j * (ymax - points.imag) / SCALE


def distance_to_shapes_mm(points: np.ndarray) -> np.ndarray:
    """Machine-mm distance from each page point to the nearer of the true circle and the true Bézier."""
    circle = np.abs(np.abs(points - (10 + 10j)) - 9)
    bezier = svgpathtools.CubicBezier(2 + 18j, 6 + 2j, 14 + 30j, 18 + 4j)
    samples = bezier.points(np.linspace(0, 1, 20001))
    nearest = np.min(np.abs(points[:, None] - samples[None, :]), axis=1)
    return np.minimum(circle, nearest) * SCALE


@pytest.mark.parametrize("tolerance", [0.02, 0.05, 0.2])
def test_every_point_the_pen_passes_lies_within_the_tolerance_of_the_true_curves(tmp_path, tolerance):
    program, placement = plan_program(tmp_path, tolerance_mm=tolerance)
    error = distance_to_shapes_mm(to_page_mm(drawn_points(program), placement))
    # 1e-3: the three-decimal rounding of the written coordinates
    assert error.max() <= tolerance + 1e-3
    assert error.max() > tolerance / 20  # the tolerance is used, not wasted on needless vertices


def test_a_coarser_tolerance_writes_fewer_lines(tmp_path):
    counts = [len(plan_program(tmp_path, tolerance_mm=t)[0]) for t in (0.01, 0.05, 0.5)]
    assert counts[0] > counts[1] > counts[2]


def test_arcs_cut_the_line_count_and_stay_within_the_tolerance(tmp_path):
    lines, _ = plan_program(tmp_path, tolerance_mm=0.05)
    program, placement = plan_program(tmp_path, tolerance_mm=0.05, arcs=True)
    assert sum(line.startswith(("G2", "G3")) for line in program) >= 3
    assert len(program) < len(lines) / 5
    error = distance_to_shapes_mm(to_page_mm(drawn_points(program), placement))
    assert error.max() <= 0.05 + 1e-3
