"""SVG export: every primitive as a true path in millimetres that reads back, plans, and draws on the plotter."""

import numpy as np
import pytest
import torch
from svgpathtools import CubicBezier, Line, QuadraticBezier, svg2paths2

from calibration import default_profile
from gcode import emit_gcode, plan_document, read_svg
from gcode.svg import PX_PER_MM
from robot import GrblSimulator
from strokeopt.export import stroke_paths, strokes_to_svg
from strokeopt.optimise import FitConfig, fit_strokes
from strokeopt.primitives import polyline
from strokeopt.strokes import CONTROL_POINTS, PRIMITIVES, StrokeSet

MM_PER_PX = 0.5
SEGMENT_TYPES = {"dot": [Line], "line": [Line], "quadratic": [QuadraticBezier], "cubic": [CubicBezier],
                 "catmull-rom": [CubicBezier] * (CONTROL_POINTS["catmull-rom"] - 1)}


class Pen:
    def __init__(self, name, width_mm, color):
        self.name, self.width_mm, self.color = name, width_mm, color


PENS = [Pen("black", 0.5, "#000000"), Pen("red", 0.3, "#ff0000")]


def stroke_set(primitive, n=6, seed=0):
    """n strokes of ``primitive`` well inside a 64 x 48 px canvas, alternating between two pens."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(4, 44, (n, CONTROL_POINTS[primitive], 2)).astype(np.float32)
    return StrokeSet(primitive, points, np.arange(n) % 2, 64, 48)


def write_svg(tmp_path, strokes):
    path = tmp_path / f"{strokes.primitive}.svg"
    path.write_text(strokes_to_svg(strokes, MM_PER_PX, PENS), "utf-8")
    return path


def z(point):
    return complex(*(np.asarray(point, np.float64) * MM_PER_PX))


def expected_segment_points(primitive, p):
    """The control points (mm, complex) each exported segment should have, computed from the definitions."""
    if primitive == "dot":
        return [[z(p[0]), z(p[0])]]
    if primitive != "catmull-rom":
        return [[z(q) for q in p]]
    p = p.astype(np.float64)
    padded = np.concatenate([p[:1], p, p[-1:]])
    return [[z(padded[i + 1]), z(padded[i + 1] + (padded[i + 2] - padded[i]) / 6),
             z(padded[i + 2] - (padded[i + 3] - padded[i + 1]) / 6), z(padded[i + 2])] for i in range(len(p) - 1)]


def segment_points(segment):
    if isinstance(segment, Line):
        return [segment.start, segment.end]
    if isinstance(segment, QuadraticBezier):
        return [segment.start, segment.control, segment.end]
    return [segment.start, segment.control1, segment.control2, segment.end]


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_every_primitive_is_written_as_its_own_segments_with_control_points_in_mm(tmp_path, primitive):
    strokes = stroke_set(primitive)
    paths, _, _ = svg2paths2(str(write_svg(tmp_path, strokes)))
    by_pen = [i for pen in (0, 1) for i in range(len(strokes)) if strokes.pens[i] == pen]  # file order: layers
    assert len(paths) == len(strokes)
    for path, index in zip(paths, by_pen):
        assert [type(segment) for segment in path] == SEGMENT_TYPES[primitive]
        for segment, expected in zip(path, expected_segment_points(primitive, strokes.points[index])):
            assert np.allclose(segment_points(segment), expected, atol=1e-6)


def test_a_dot_is_written_as_a_zero_length_subpath():
    paths = stroke_paths(stroke_set("dot", n=1), MM_PER_PX)
    (segment,) = paths[0]
    assert segment.start == segment.end
    assert paths[0].d().split()[0] == "M" and paths[0].d().split()[2] == "L"


def test_sampling_the_exported_catmull_rom_gives_the_rendered_polyline():
    strokes = stroke_set("catmull-rom")
    drawn = polyline("catmull-rom", torch.as_tensor(strokes.points, dtype=torch.float64)).numpy() * MM_PER_PX
    for path, expected in zip(stroke_paths(strokes, MM_PER_PX), drawn):
        samples = [path[0].point(0.0)] + [segment.point(k / 6) for segment in path for k in range(1, 7)]
        assert np.allclose(samples, expected[:, 0] + 1j * expected[:, 1], atol=1e-9)


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_the_plotter_reads_every_primitive_one_line_per_stroke_from_first_to_last_point(tmp_path, primitive):
    strokes = stroke_set(primitive)
    doc = read_svg(write_svg(tmp_path, strokes))
    assert sorted(doc.layers) == [1, 2]
    lines = [line / PX_PER_MM for layer_id in (1, 2) for line in doc.layers[layer_id]]
    by_pen = [i for pen in (0, 1) for i in range(len(strokes)) if strokes.pens[i] == pen]
    assert len(lines) == len(strokes)
    for line, index in zip(lines, by_pen):
        assert len(line) >= 2
        assert abs(line[0] - z(strokes.points[index, 0])) < 1e-4  # vpype's unit conversion: ~1e-5 mm
        assert abs(line[-1] - z(strokes.points[index, -1])) < 1e-4


def test_a_dot_is_drawn_by_the_plotter_as_a_pen_dip_where_it_lies(tmp_path):
    points = np.array([[[10.0, 12.0]], [[40.0, 30.0]], [[60.0, 5.0]]], np.float32)
    strokes = StrokeSet("dot", points, np.zeros(3, np.int64), 64, 48)
    profile = default_profile()
    planned = plan_document(read_svg(write_svg(tmp_path, strokes)), profile)
    simulator = GrblSimulator(profile)
    for line in emit_gcode(planned.document, profile, title="dots"):
        simulator.receive(line.encode() + b"\n")

    # where the page (and so each dot) lands on the machine
    mm_per_svg_mm = planned.placement.scale * PX_PER_MM
    corners = [profile.machine_to_page(*corner) for corner in
               [planned.placement.page_rect_mm[:2], planned.placement.page_rect_mm[2:]]]
    left, top = min(c[0] for c in corners), min(c[1] for c in corners)
    expected = [profile.page_to_machine(left + x * MM_PER_PX * mm_per_svg_mm, top + y * MM_PER_PX * mm_per_svg_mm)
                for x, y in points[:, 0]]

    dots = [stroke[0] for stroke in simulator.strokes if len(set(stroke)) == 1]
    assert len(dots) == len(simulator.strokes) == 3
    for position in expected:
        assert min(np.hypot(x - position[0], y - position[1]) for x, y in dots) < 2e-3  # G-code has 3 decimals


def test_svg_holds_true_bezier_paths_in_millimetres_one_layer_per_pen(tmp_path):
    target = np.ones((32, 32), np.float32)
    y, x = np.mgrid[:32, :32] + 0.5
    target[(x - 16) ** 2 + (y - 16) ** 2 < 64] = 0.2
    result = fit_strokes(target, FitConfig(strokes=12, iters=5, primitive="cubic", seed=3, progress=False))
    result.strokes.pens[:] = np.arange(12) % 2
    text = strokes_to_svg(result.strokes, 2.5, PENS)
    assert 'width="80.0000mm"' in text and 'viewBox="0 0 80.0000 80.0000"' in text
    assert text.count('inkscape:groupmode="layer"') == 2

    path = tmp_path / "s.svg"
    path.write_text(text)
    paths, _, _ = svg2paths2(str(path))
    assert len(paths) == 12
    first = paths[0][0]
    assert isinstance(first, CubicBezier)
    expected = result.strokes.points[0] * 2.5
    assert abs(first.start - complex(*expected[0])) < 1e-3 and abs(first.control1 - complex(*expected[1])) < 1e-3
