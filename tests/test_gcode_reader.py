"""The G-code reader: parsing, modal state, GRBL error numbers, arcs, and agreement with pygcode."""

from __future__ import annotations

import cmath
import math
from pathlib import Path

import numpy as np
import pytest
import vpype
from pygcode import Line, Machine

from calibration import default_profile, load_profile
from gcode import (
    Dwell,
    Flavour,
    GcodeError,
    GcodeInterpreter,
    Move,
    Pause,
    PenChange,
    ProgramEnd,
    emit_gcode,
    flavour_for,
    parse_words,
    read_program,
    strip_comment,
)


PROFILES = Path(__file__).resolve().parent.parent / "examples" / "profiles"


def moves(events):
    return [e for e in events if isinstance(e, Move)]


def error_code(*lines: str) -> int:
    with pytest.raises(GcodeError) as info:
        read_program(lines)
    return info.value.grbl_code


def test_strip_comment_removes_parenthesised_and_semicolon_comments_and_all_whitespace():
    assert strip_comment("g1 x 10 (move right) y2 ; and up") == ("G1X10Y2", "move right and up")
    assert strip_comment("(only a comment)") == ("", "only a comment")
    assert strip_comment("   ") == ("", "")
    assert strip_comment("M0 (a;b)") == ("M0", "a;b")


def test_parse_words_splits_letters_and_numbers():
    assert parse_words("G1X10.5Y-.25F3000") == [("G", 1.0), ("X", 10.5), ("Y", -0.25), ("F", 3000.0)]


@pytest.mark.parametrize(("code", "grbl_code"), [("1X2", 1), ("X1.2.3", 1), ("G1#", 1), ("X", 2), ("X-", 2), ("X.", 2)])
def test_parse_words_errors_carry_grbl_codes(code, grbl_code):
    with pytest.raises(GcodeError) as info:
        parse_words(code, line_no=7)
    assert (info.value.grbl_code, info.value.line_no) == (grbl_code, 7)


def test_blank_and_comment_only_lines_produce_no_events():
    assert read_program(["", "   ", "(hello)", "; world"]) == []


def test_moves_are_absolute_mm_with_pen_state_and_feed():
    events = read_program(["G0 X10 Y5", "M3 S1000", "G1 X20 F1200", "Y15"])
    assert events == [
        Move((0.0, 0.0), (10.0, 5.0), pen_down=False, rapid=True, feed_mm_min=None, line_no=1),
        PenChange(True, 2),
        Move((10.0, 5.0), (20.0, 5.0), pen_down=True, rapid=False, feed_mm_min=1200.0, line_no=3),
        Move((20.0, 5.0), (20.0, 15.0), pen_down=True, rapid=False, feed_mm_min=1200.0, line_no=4),
    ]


def test_g91_moves_are_relative_to_the_current_position():
    ends = [m.end for m in moves(read_program(["G0 X10 Y10", "G91", "G0 X5", "G0 X-2 Y3", "G90 G0 X1"]))]
    assert ends == [(10, 10), (15, 10), (13, 13), (1, 13)]


def test_g20_converts_inches_to_mm_including_the_feed():
    events = moves(read_program(["G20 G1 X1 Y0.5 F10", "G21 G1 X10"]))
    assert events[0].end == pytest.approx((25.4, 12.7))
    assert events[0].feed_mm_min == pytest.approx(254.0)
    assert events[1].end == pytest.approx((10.0, 12.7))


def test_units_and_distance_mode_in_a_block_apply_to_that_blocks_move():
    events = moves(read_program(["G0 X1", "G91 G20 G0 X1"]))
    assert events[1].end == pytest.approx((26.4, 0.0))


def test_pen_changes_only_on_transitions_and_s0_keeps_the_pen_up():
    events = read_program(["M3 S0", "M3 S1000", "M3 S1000", "S0", "S500", "M5", "M5"])
    assert events == [PenChange(True, 2), PenChange(False, 4), PenChange(True, 5), PenChange(False, 6)]


def test_dwell_pause_and_program_end():
    events = read_program(["G4 P0.25", "M0 (change to pen red)", "M3 S1", "M2"])
    assert events == [Dwell(0.25, 1), Pause("change to pen red", 2), PenChange(True, 3), PenChange(False, 4), ProgramEnd(4)]


def test_program_end_resets_distance_mode_to_absolute():
    assert moves(read_program(["G91 G0 X5", "M30", "G0 X1"]))[-1].end == (1.0, 0.0)


@pytest.mark.parametrize(
    ("lines", "grbl_code"),
    [
        (["G5"], 20),
        (["G38.2 X1"], 20),
        (["M7"], 20),
        (["M6"], 20),
        (["G10 L20 P1 X0"], 20),
        (["G28 X10"], 20),
        (["G92"], 26),
        (["G1 X10"], 22),
        (["G1 X10 F0"], 22),
        (["G0 G1 X1"], 24),
        (["G20 G21"], 21),
        (["X1 X2"], 25),
        (["G4"], 28),
        (["F-5"], 4),
        (["G1 X1 I1 F100"], 36),
        (["F100", "G2 X10 Y0 I4 J0"], 33),
        (["F100", "G2 X10 Y0"], 35),
    ],
)
def test_errors_carry_grbl_codes(lines, grbl_code):
    assert error_code(*lines) == grbl_code


def test_error_reports_its_line_number():
    with pytest.raises(GcodeError) as info:
        read_program(["G21", "G90", "G1 X5"])
    assert info.value.line_no == 3
    assert "line 3" in str(info.value)


def test_a_failing_line_leaves_the_state_unchanged():
    interpreter = GcodeInterpreter()
    interpreter.execute("G0 X3 Y4")
    before = interpreter.state.__dict__.copy()
    with pytest.raises(GcodeError):
        interpreter.execute("G91 G20 M3 S100 G1 X1")  # no feed: fails after touching units, mode and spindle
    assert interpreter.state.__dict__ == before


def arc_moves(*lines: str) -> list[Move]:
    return moves(read_program(["G0 X10 Y0", "F600", *lines]))[1:]


def assert_arc_length(ms: list[Move], arc_mm: float) -> None:
    """Chords are a little shorter than the arc; with 0.01 mm chord error the shortfall is well under 0.1 %."""
    polyline_mm = sum(math.dist(m.start, m.end) for m in ms)
    assert arc_mm * 0.999 < polyline_mm <= arc_mm


def assert_on_circle(ms: list[Move], centre: tuple[float, float], radius: float) -> None:
    for m in ms:
        for p in (m.start, m.end):
            assert math.dist(p, centre) == pytest.approx(radius, abs=1e-9)
        midpoint = ((m.start[0] + m.end[0]) / 2, (m.start[1] + m.end[1]) / 2)
        assert radius - math.dist(midpoint, centre) <= 0.01  # chord error


def test_g3_quarter_circle_counter_clockwise_ends_on_target_with_the_arc_length():
    ms = arc_moves("G3 X0 Y10 I-10 J0")
    assert ms[-1].end == (0.0, 10.0)
    assert_arc_length(ms, math.pi * 10 / 2)
    assert all(m.end[0] >= -1e-9 and m.end[1] >= -1e-9 for m in ms)  # stays in the first quadrant
    assert_on_circle(ms, (0.0, 0.0), 10.0)


def test_g2_to_the_same_point_goes_the_long_way_clockwise():
    ms = arc_moves("G2 X0 Y10 I-10 J0")
    assert ms[-1].end == (0.0, 10.0)
    assert_arc_length(ms, math.pi * 10 * 3 / 2)
    assert ms[0].end[1] < 0  # clockwise from (10, 0) heads down first
    assert_on_circle(ms, (0.0, 0.0), 10.0)


def test_arc_ending_where_it_starts_is_a_full_circle():
    ms = arc_moves("G2 X10 Y0 I-5 J0")
    assert_arc_length(ms, 2 * math.pi * 5)
    assert_on_circle(ms, (5.0, 0.0), 5.0)


def test_arcs_are_modal_and_carry_the_pen_state():
    ms = moves(read_program(["G0 X10", "M3 S1000", "G2 X0 Y10 I-10 F600", "X-10 Y0 I0 J-10"]))
    assert ms[-1].end == pytest.approx((-10.0, 0.0))
    assert all(m.pen_down and not m.rapid and m.feed_mm_min == 600 for m in ms[1:])


def emitted_program() -> list[str]:
    doc = vpype.Document()
    doc.add(vpype.LineCollection([[20 + 30j, 50 + 30j, 50 + 70j], [100 + 100j], [60 + 10j, 60.0004 + 10j]]), 1)
    doc.add(vpype.LineCollection([[5 + 5j, 195 + 280j]]), 2)
    return emit_gcode(doc, default_profile(), title="reader check")


def test_reader_understands_the_emitters_output():
    events = read_program(emitted_program())
    drawn = [(m.start, m.end) for m in moves(events) if m.pen_down]
    assert drawn == [((20, 30), (50, 30)), ((50, 30), (50, 70)), ((5, 5), (195, 280))]
    assert sum(isinstance(e, Pause) for e in events) == 1
    assert isinstance(events[-1], ProgramEnd)


def test_every_emitted_line_parses_with_pygcode_and_it_sees_the_same_positions():
    program = emitted_program()
    theirs = set()
    for text in program:
        for gcode in Line(text).block.gcodes:
            params = gcode.get_param_dict()
            if gcode.word_key is not None and gcode.word_key.letter == "G" and gcode.word_key.value in (0, 1):
                theirs.add((params["X"], params["Y"]))
    ours = {m.end for m in moves(read_program(program))}
    assert theirs == ours


def curvy_program(profile) -> list[str]:
    """Lines, a dot and arcs-worth of circle in two layers, emitted with G2/G3 in the profile's dialect."""
    circle = [100 + 150j + 40 * cmath.exp(1j * t) for t in np.linspace(0, 5, 300)]
    s_curve = [30 + 30j + t * 5 + 10j * math.sin(t) for t in np.linspace(0, 20, 400)]
    doc = vpype.Document()
    doc.add(vpype.LineCollection([circle, [20 + 30j, 50 + 30j], [70 + 70j, 70 + 70j]]), 1)
    doc.add(vpype.LineCollection([s_curve]), 2)
    return emit_gcode(doc, profile, title="pygcode check", arcs=True, arc_tolerance_mm=0.02)


@pytest.mark.parametrize("profile_file", [None, *sorted(PROFILES.glob("*.toml"))], ids=lambda p: getattr(p, "stem", "default"))
def test_pygcode_follows_our_programs_to_the_same_positions_arcs_included(profile_file):
    profile = load_profile(profile_file)
    program = curvy_program(profile)
    assert any(line.startswith("G2 ") for line in program) and any(line.startswith("G3 ") for line in program)
    machine = Machine()
    ours = GcodeInterpreter(flavour=flavour_for(profile))
    motions = 0
    for number, text in enumerate(program, start=1):
        ours.execute(text, number)
        code, _ = strip_comment(text)
        if not code.startswith(("G0", "G1", "G2", "G3")) or code.startswith(("G21", "G20")):
            continue  # pygcode knows no Marlin servo or message words; positions change only on motion lines
        machine.process_block(Line(text).block)
        theirs = machine.pos
        assert (theirs.X, theirs.Y, theirs.Z) == pytest.approx((ours.state.x_mm, ours.state.y_mm, ours.state.z_mm)), text
        motions += 1
    assert motions > 20


def test_g92_gives_the_current_position_new_coordinates_and_moves_stay_in_machine_mm():
    events = read_program(["G0 X50 Y50", "G92 X0 Y0", "G0 X10 Y-5", "G92.1", "G0 X10 Y10"])
    assert [m.end for m in moves(events)] == [(50.0, 50.0), (60.0, 45.0), (10.0, 10.0)]


def test_g28_alone_is_a_rapid_to_the_origin_and_keeps_the_motion_mode():
    interpreter = GcodeInterpreter()
    interpreter.execute("G1 X20 Y30 F1000", 1)
    assert interpreter.execute("G28", 2) == [Move((20.0, 30.0), (0.0, 0.0), False, True, None, 2)]
    assert interpreter.state.motion == "G1"


def test_grbl_system_lines_and_tool_numbers_are_passed_over_but_marlin_refuses_a_t_word():
    assert read_program(["$$", "$X", "T1", "G0 X1 T2"]) == [Move((0.0, 0.0), (1.0, 0.0), False, True, None, 4)]
    with pytest.raises(GcodeError, match="unsupported word T"):
        read_program(["T1"], Flavour(firmware="marlin"))
