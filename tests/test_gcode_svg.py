"""Reading strokebot SVGs: millimetre pages, one layer per top-level group, clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import svgelements
import vpype
from hypothesis import given, settings
from hypothesis import strategies as st

from gcode import SvgError, read_svg
from gcode.layout import crop_document
from gcode.svg import _is_dot, _surely_no_dot, load_svg

PX_PER_MM = 96 / 25.4

# A 100 x 50 mm page whose viewBox is 200 x 100 units: one unit is 0.5 mm.
HAND_WRITTEN = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
     width="100mm" height="50mm" viewBox="0 0 200 100">
  <g inkscape:groupmode="layer" inkscape:label="fine 0.3" transform="translate(20 10)">
    <line x1="0" y1="0" x2="40" y2="0" stroke="black"/>
  </g>
  <g inkscape:groupmode="layer" inkscape:label="fine 0.5">
    <path d="M 100 80 C 110 60 130 60 140 80" fill="none" stroke="red"/>
  </g>
</svg>
"""


def write(tmp_path: Path, text: str, name: str = "drawing.svg") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def mm(line: np.ndarray) -> np.ndarray:
    """The line's vertices as an (n, 2) array of millimetres."""
    return np.column_stack([line.real, line.imag]) / PX_PER_MM


def test_reads_a_hand_written_svg_in_mm_with_transforms_and_curves(tmp_path):
    doc = read_svg(write(tmp_path, HAND_WRITTEN))
    assert np.allclose(np.array(doc.page_size) / PX_PER_MM, (100, 50))
    assert sorted(doc.layers) == [1, 2]

    (line,) = doc.layers[1]
    assert mm(line) == pytest.approx(np.array([(10, 5), (30, 5)]))  # translate(20 10) then 0.5 mm per unit

    (curve,) = doc.layers[2]
    assert mm(curve)[0] == pytest.approx((50, 40))
    assert mm(curve)[-1] == pytest.approx((70, 40))
    assert mm(curve)[:, 1].min() == pytest.approx(32.5, abs=0.05)  # the Bezier's apex: 80 - 0.75 * 20 units
    # flattened within 0.05 mm of the true curve, with no more vertices than that needs
    t = np.linspace(0, 1, 2001)[:, None]
    control = np.array([(100, 80), (110, 60), (130, 60), (140, 80)]) * 0.5  # mm
    true = (1 - t) ** 3 * control[0] + 3 * (1 - t) ** 2 * t * control[1] + 3 * (1 - t) * t**2 * control[2] \
        + t**3 * control[3]
    assert _distances_to_polyline(true, mm(curve)).max() <= 0.06
    assert len(curve) < 40  # a 27 mm arc at 0.05 mm tolerance needs ~15 vertices, not one per 0.05 mm


def _distances_to_polyline(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    a, b = polyline[:-1], polyline[1:]
    ab = b - a
    ap = points[:, None, :] - a[None]
    t = np.clip((ap * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
    return np.linalg.norm(ap - t[..., None] * ab, axis=-1).min(axis=1)


def test_layer_names_survive_even_when_labels_share_digits(tmp_path):
    doc = read_svg(write(tmp_path, HAND_WRITTEN))
    names = [doc.layers[i].property(vpype.METADATA_FIELD_NAME) for i in sorted(doc.layers)]
    assert names == ["fine 0.3", "fine 0.5"]


def test_a_file_path_given_as_a_string_works(tmp_path):
    assert not read_svg(str(write(tmp_path, HAND_WRITTEN))).is_empty()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('<svg xmlns="http://www.w3.org/2000/svg" width="10mm"', "not well-formed"),
        (
            '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            '<svg xmlns="http://www.w3.org/2000/svg" width="10mm" height="10mm"><text>&lol2;</text></svg>',
            "entities",
        ),
        (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 0 0"><line x1="0" y1="0" x2="1" y2="1"/></svg>',
            "page",
        ),
        (
            '<svg xmlns="http://www.w3.org/2000/svg" width="20000mm" height="10mm">'
            '<line x1="0" y1="0" x2="1" y2="1"/></svg>',
            "page",
        ),
        (
            '<svg xmlns="http://www.w3.org/2000/svg" width="10mm" height="10mm" viewBox="0 0 10 10">'
            '<g inkscape:label="empty" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"/></svg>',
            "nothing to draw",
        ),
        (
            '<svg xmlns="http://www.w3.org/2000/svg" width="10mm" height="10mm" viewBox="0 0 10 10">'
            '<line x1="20" y1="20" x2="30" y2="30"/></svg>',
            "nothing to draw",
        ),
        (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><path d="M 0 0 L 1e400 5"/></svg>',
            "not a finite number",
        ),
        ("<html><body/></html>", "not an SVG"),
        ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><path d="M 3 4 H"/></svg>',
         "cannot be interpreted"),
    ],
)
def test_bad_svgs_raise_svg_error_naming_the_file(tmp_path, text, why):
    path = write(tmp_path, text, "bad-input.svg")
    with pytest.raises(SvgError, match=why) as info:
        read_svg(path)
    assert "bad-input.svg" in str(info.value)


def test_a_missing_file_raises_svg_error_naming_it(tmp_path):
    with pytest.raises(SvgError, match="nowhere.svg"):
        read_svg(tmp_path / "nowhere.svg")


DOTS = """<svg xmlns="http://www.w3.org/2000/svg" width="100mm" height="50mm" viewBox="0 0 100 50">
  <g transform="translate(5 0)">
    <path d="M 10,20 L 10,20"/>
    <path d="M 30 40 Z m 2 2 l 6 0 M 50 10 h 0 v 0"/>
    <circle cx="70" cy="10" r="5"/>
  </g>
</svg>
"""


def test_zero_length_subpaths_are_read_as_dots_and_other_geometry_is_unchanged(tmp_path):
    (lines,) = read_svg(write(tmp_path, DOTS)).layers.values()
    shapes = [mm(line) for line in lines]
    dots = [shape for shape in shapes if np.allclose(shape, shape[0])]
    expected = ([15, 20], [35, 40], [55, 10])
    assert sorted(dot[0].tolist() for dot in dots) == [pytest.approx(point, abs=1e-4) for point in expected]
    assert all(len(dot) == 2 for dot in dots)  # [p, p]: vpype drops lines of fewer than two points
    after_dot = np.array([(37, 42), (43, 42)])  # "m 2 2 l 6 0" after the dot at (30, 40)
    assert any(shape == pytest.approx(after_dot, abs=1e-4) for shape in shapes)
    circle = [shape for shape in shapes if len(shape) > 2]
    assert len(circle) == 1 and np.hypot(*(circle[0] - (75, 10)).T) == pytest.approx(5, abs=0.06)
    assert len(shapes) == 5


@pytest.mark.parametrize(
    "root",
    [
        'width="100mm" height="50mm" viewBox="0 0 200 100"',
        'width="4in" height="3in"',
        'viewBox="-10 5 640 480"',
        'width="300" height="200"',
        'width="100%" height="100%" viewBox="0 0 320 240"',
        'width="21cm" height="29.7cm" viewBox="0 0 210 297" preserveAspectRatio="none"',
    ],
)
def test_the_page_found_from_the_root_element_alone_is_the_page_vpype_reads(tmp_path, root):
    path = write(tmp_path, f'<svg xmlns="http://www.w3.org/2000/svg" {root}><path d="M 1 1 L 9 9"/></svg>')
    assert load_svg(path).page_px == pytest.approx(vpype.read_multilayer_svg(str(path), 1.0).page_size, abs=0)


STRAIGHT_COMMANDS = st.sampled_from(["M", "m", "L", "l", "H", "h", "V", "v", "Z", "z"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(STRAIGHT_COMMANDS, st.lists(st.sampled_from(["0", "1", "-1", "0.5", "1e-13"]), max_size=4)),
                min_size=1, max_size=8))
def test_the_quick_reading_of_path_data_never_misses_a_dot_that_svgelements_finds(commands):
    data = "M 3 4 " + " ".join(f"{letter} {' '.join(numbers)}" for letter, numbers in commands)
    try:
        dots = [_is_dot(subpath) for subpath in svgelements.Path(data).as_subpaths()]
    except (ValueError, IndexError, TypeError):  # not path data svgelements can read (a command without numbers)
        return
    if _surely_no_dot(data):
        assert not any(dots)


COORDINATES = st.sampled_from(["0", "1", "-1", "0.5", "1e-13", "1.0000001", "2.5e1", ".5"])


@settings(max_examples=200, deadline=None)
@given(st.lists(COORDINATES, min_size=4, max_size=4), st.sampled_from([",", " ", " , "]), st.sampled_from([" ", ""]))
def test_the_quick_reading_of_one_line_segment_agrees_with_svgelements(numbers, comma, space):
    x0, y0, x1, y1 = numbers
    data = f"M{space}{x0}{comma}{y0}{space}L{space}{x1}{comma}{y1}"
    dot = _is_dot(next(iter(svgelements.Path(data).as_subpaths())))
    if _surely_no_dot(data):
        assert not dot
    assert _surely_no_dot(data) or dot or abs(float(x1) - float(x0)) + abs(float(y1) - float(y0)) < 1e-5


def test_the_quick_reading_passes_ordinary_lines_and_leaves_the_rest_to_svgelements():
    assert _surely_no_dot("M 1,2 L 3,4 M 5 6 l 1 0 h 2 v -3 Z")
    assert not _surely_no_dot("M 1,2 L 1,2")  # a dot
    assert _surely_no_dot("M 1,2 L 1,2.5")  # one segment, as `fit` writes lines
    assert not _surely_no_dot("M 1,2 L 3,4 M 5,6 z")  # a dot after a line
    assert not _surely_no_dot("M 3 4 H 0 Z Z")  # the second close is a dot of its own
    assert not _surely_no_dot("M 1,2 C 3,4 5,6 7,8")  # a curve: not read here


def test_cropping_whole_layers_at_once_gives_vpypes_crop(tmp_path):
    rng = np.random.default_rng(0)
    doc = vpype.Document(page_size=(100.0, 80.0))
    lines = [complex(*rng.uniform(-20, 120, 2)) + np.cumsum(rng.normal(0, 15, 5) + 1j * rng.normal(0, 15, 5))
             for _ in range(300)]
    lines.append(np.array([100 + 10j, 100 + 20j]))  # along the edge
    doc.add(vpype.LineCollection(lines), 1)
    expected = doc.clone()
    expected.add(vpype.LineCollection(lines), 1)
    expected.crop(0, 0, 100, 80)
    cropped = crop_document(doc, 0, 0, 100, 80)
    assert len(cropped.layers[1]) == len(expected.layers[1]) > 100
    assert all(np.array_equal(a, b) for a, b in zip(cropped.layers[1], expected.layers[1]))
    assert len(doc.layers[1]) == len(lines)  # the input is left as it was
