"""The G-code emitter: exact grbl-servo program shape, safe comments, bounds, and a property over random input."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import vpype
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration import WorkArea, default_profile, load_profile
from calibration.profile import ORIGINS
from gcode import (
    ROTATIONS,
    Move,
    OutOfBoundsError,
    PlanOptions,
    emit_gcode,
    flavour_for,
    plan_document,
    read_program,
    strip_comment,
)
from gcode.emit import format_number

EVIL = ")\nG0 X-999 ;"
PROFILES = Path(__file__).resolve().parent.parent / "examples" / "profiles"


def drawing(*layers: list[list[complex]], names: tuple[str | None, ...] = ()) -> vpype.Document:
    """A document in machine mm with one layer per argument, optionally named."""
    doc = vpype.Document()
    for layer_id, lines in enumerate(layers, start=1):
        name = names[layer_id - 1] if names else None
        doc.add(vpype.LineCollection(lines, metadata={vpype.METADATA_FIELD_NAME: name}), layer_id, with_metadata=True)
    return doc


def test_one_line_makes_exactly_this_program():
    program = emit_gcode(drawing([[10 + 20j, 30 + 20j, 30 + 25.5j]]), default_profile(), title="t")
    assert program == [
        "(strokebot: t)",
        "G21",
        "G90",
        "M5",
        "G4 P0.150",
        "G0 X10.000 Y20.000",
        "M3 S1000",
        "G4 P0.150",
        "G1 X30.000 Y20.000 F3000.000",
        "G1 X30.000 Y25.500",
        "M5",
        "G4 P0.150",
        "G0 X0.000 Y0.000",
        "M2",
    ]


def test_travel_moves_are_g0_and_drawing_moves_are_g1():
    program = emit_gcode(drawing([[10 + 10j, 20 + 10j], [50 + 50j, 60 + 70j, 10 + 90j]]), default_profile())
    pen_down = False
    for line in program:
        code, _ = strip_comment(line)
        pen_down = {"M3": True, "M5": False}.get(code[:2], pen_down)
        if code.startswith(("G0X", "G1X")):
            assert code.startswith("G1") == pen_down, line
    events = [e for e in read_program(program) if isinstance(e, Move)]
    assert all(m.rapid != m.pen_down for m in events)


def test_the_feed_is_written_only_when_it_changes():
    program = emit_gcode(drawing([[10 + 10j, 20 + 10j], [50 + 50j, 60 + 70j]]), default_profile())
    assert sum("F" in line for line in program) == 1


def test_a_zero_length_line_is_drawn_as_a_dot():
    # vpype drops one-vertex lines itself, so a dot reaches the emitter as a line that does not move
    program = emit_gcode(drawing([[40 + 40j, 40 + 40j], [60 + 60j, 60.0001 + 60j]]), default_profile())
    body = program[5:-2]
    dot = ["M3 S1000", "G4 P0.150", "M5", "G4 P0.150"]
    assert body == ["G0 X40.000 Y40.000", *dot, "G0 X60.000 Y60.000", *dot]


def test_numbers_have_three_decimals_and_never_negative_zero():
    program = emit_gcode(drawing([[0j, 1 / 3 + 2 / 3 * 1j, 123.45678 + 0.0004j]]), default_profile())
    numbers = [n for line in program for n in re.findall(r"[XYFP](\S+)", line.split("(")[0])]
    assert numbers and all(re.fullmatch(r"\d+\.\d{3}", n) for n in numbers)
    assert "G1 X0.333 Y0.667 F3000.000" in program and "G1 X123.457 Y0.000" in program
    assert format_number(-0.0004) == "0.000" and format_number(-0.0006) == "-0.001"


def test_between_layers_the_pen_is_lifted_parked_and_the_operator_asked_to_change_pens():
    program = emit_gcode(drawing([[10 + 10j, 20 + 10j]], [[30 + 30j, 40 + 30j]], names=("black", "red")), default_profile())
    stop = program.index("M0 (change to pen red)")
    assert program[stop - 3 : stop] == ["M5", "G4 P0.150", "G0 X0.000 Y0.000"]
    assert program[stop + 1 : stop + 3] == ["(pen red)", "G0 X30.000 Y30.000"]
    assert sum(line.startswith("M0") for line in program) == 1
    assert program.index("(pen black)") < program.index("G0 X10.000 Y10.000")  # the first pen is named too


def test_a_single_layer_has_no_pen_change_and_an_unnamed_layer_is_called_by_its_number():
    assert not any(line.startswith("M0") for line in emit_gcode(drawing([[10 + 10j, 20 + 10j]]), default_profile()))
    two = emit_gcode(drawing([[10 + 10j, 20 + 10j]], [[30 + 30j, 40 + 30j]]), default_profile())
    assert "M0 (change to pen layer 2)" in two


def test_comment_injection_cannot_add_commands_or_break_parentheses():
    layers = ([[10 + 10j, 20 + 10j]], [[30 + 30j, 40 + 30j]])
    evil = emit_gcode(drawing(*layers, names=("a", EVIL)), default_profile(), title=EVIL + "\x00\x1b(é")
    plain = emit_gcode(drawing(*layers, names=("a", "b")), default_profile(), title="plain")
    assert [strip_comment(line)[0] for line in evil] == [strip_comment(line)[0] for line in plain]
    for line in evil:
        assert "\n" not in line and ";" not in line and line.isascii() and line.isprintable()
        assert line.count("(") == line.count(")") <= 1
        assert line.count("(") == 0 or line.endswith(")")


def test_every_line_fits_in_70_characters_even_with_long_names():
    long = "x" * 500
    program = emit_gcode(
        drawing([[10 + 10j, 20 + 10j]], [[209.999 + 296.999j, 0j]], names=(long, long)), default_profile(), title=long
    )
    assert max(len(line) for line in program) <= 70
    assert program[0].startswith("(strokebot: xxx") and program[0].endswith(")")


@pytest.mark.parametrize("vertex", [-0.001 + 10j, 10 - 0.001j, 210.001 + 10j, 10 + 297.001j, complex(np.nan, 1)])
def test_a_vertex_outside_the_work_area_raises_naming_layer_line_and_coordinate(vertex):
    doc = drawing([[10 + 10j, 20 + 20j]], [[5 + 5j, 6 + 6j], [7 + 7j, vertex]])
    with pytest.raises(OutOfBoundsError, match=r"layer 2, line 1: vertex \(") as info:
        emit_gcode(doc, default_profile())
    assert f"{vertex.real:g}" in str(info.value)


def test_vertices_exactly_on_the_work_area_border_are_allowed():
    program = emit_gcode(drawing([[0j, 210 + 0j, 210 + 297j, 297j]]), default_profile())
    assert "G1 X210.000 Y297.000" in program


DIALECT_PROFILES = [default_profile(), *(load_profile(p) for p in sorted(PROFILES.glob("*.toml")))]
profiles = st.builds(
    lambda base, width, height, margin_share, origin: dataclasses.replace(
        base, work_area=WorkArea(width, height, margin_share * min(width, height) / 2, origin)
    ),
    base=st.sampled_from(DIALECT_PROFILES),
    width=st.floats(20, 1200),
    height=st.floats(20, 1200),
    margin_share=st.floats(0, 0.9),
    origin=st.sampled_from(ORIGINS),
)
coordinates = st.floats(-2000, 4000, allow_nan=False)
random_lines = st.lists(st.lists(st.tuples(coordinates, coordinates), min_size=1, max_size=6), min_size=1, max_size=8)
arcs = st.lists(  # circular arcs through random points: material for G2/G3
    st.tuples(coordinates, coordinates, st.floats(1, 500), st.floats(0, 6.3), st.floats(-6.3, 6.3)), min_size=1, max_size=3
).map(
    lambda specs: [
        [complex(x, y) + r * np.exp(1j * (a + s * t)) for t in np.linspace(0, 1, 400)] for x, y, r, a, s in specs
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    profile=profiles,
    lines=random_lines,
    curves=arcs,
    page=st.one_of(st.none(), st.tuples(st.floats(1, 3000), st.floats(1, 3000))),
    options=st.builds(PlanOptions, rotate=st.sampled_from(ROTATIONS), arcs=st.booleans()),
)
def test_every_emitted_position_lies_inside_the_work_area(profile, lines, curves, page, options):
    doc = vpype.Document(page_size=page)
    doc.add(vpype.LineCollection([[complex(x, y) for x, y in line] for line in lines] + curves), 1)
    planned = plan_document(doc, profile, options)
    program = emit_gcode(planned.document, profile, "property", options.arcs, options.arc_tolerance_mm)
    width, height = profile.work_area.width_mm, profile.work_area.height_mm
    for line in program:
        for axis, value in re.findall(r"([XY])(-?\d+\.\d+)", strip_comment(line)[0]):
            assert 0 <= float(value) <= (width if axis == "X" else height), line
    for move in (e for e in read_program(program, flavour_for(profile)) if isinstance(e, Move)):
        for x, y in (move.start, move.end):  # arcs included, as the reader flattens them
            assert -1e-9 <= x <= width + 1e-9 and -1e-9 <= y <= height + 1e-9, move
