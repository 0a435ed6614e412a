"""A planned program is checked and measured from its typed moves exactly as its text would be by the reader."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import vpype

from calibration import default_profile, load_profile, parse_profile
from gcode import GcodeError, OutOfBoundsError, RefusedCommandError, check_program, compute_stats
from gcode.check import check_moves
from gcode.emit import build_program
from gcode.moves import Motion
from gcode.stats import timeline_stats

PROFILES = Path(__file__).resolve().parent.parent / "examples" / "profiles"
PROFILE_FILES = ("a3_grbl_z.toml", "a4_marlin_servo.toml", "a4_marlin_z.toml", "custom_grbl_laser.toml")


def all_profiles():
    return [default_profile(), *(load_profile(PROFILES / name) for name in PROFILE_FILES)]


def drawing(seed: int, pens: int = 2) -> vpype.Document:
    """Layers of random polylines, circles (arcs to fit) and dots, in machine mm inside every example work area."""
    rng = np.random.default_rng(seed)
    doc = vpype.Document()
    for layer_id in range(1, pens + 1):
        starts = 40 + 120 * rng.random(8) + 1j * (40 + 120 * rng.random(8))
        lines = [start + np.cumsum(rng.normal(0, 3, 6) + 1j * rng.normal(0, 3, 6)) for start in starts]
        centre = 100 + 100j + layer_id * (5 + 5j)
        lines.append(centre + 20 * np.exp(1j * np.linspace(0, 1.5 * np.pi, 40)))  # an arc with --arcs
        lines.append(np.array([60 + 60j, 60 + 60j]))  # a dot
        doc.add(vpype.LineCollection(lines, metadata={vpype.METADATA_FIELD_NAME: f"pen {layer_id}"}), layer_id,
                with_metadata=True)
    return doc


@pytest.mark.parametrize("arcs", [False, True])
@pytest.mark.parametrize("pens", [1, 3])
@pytest.mark.parametrize("profile", all_profiles(), ids=lambda p: p.dialect)
def test_statistics_from_the_moves_equal_the_statistics_of_the_text(profile, pens, arcs):
    program = build_program(drawing(seed=pens, pens=pens), profile, "t", arcs=arcs, arc_tolerance_mm=0.05)
    lines = program.lines()
    assert any(isinstance(row, Motion) and row.code in ("G2", "G3") for row in program.rows) == arcs
    from_moves = timeline_stats(check_moves(program, profile), program.line_count(), profile)
    assert from_moves == compute_stats(lines, profile)  # exactly: the same floats, summed in the same order
    assert from_moves.pen_lifts == pens * 10


def test_the_text_of_a_program_is_its_moves_written_with_three_decimals():
    program = build_program(drawing(seed=0, pens=1), default_profile(), "t", arcs=True)
    arcs = [row for row in program.rows if isinstance(row, Motion) and row.code in ("G2", "G3")]
    number = r"-?\d+\.\d{3}"
    assert arcs and all(re.fullmatch(f"G[23] X{number} Y{number} I{number} J{number}( F{number})?", row.text())
                        for row in arcs)
    assert program.lines()[0] == "(strokebot: t)"


def custom(**templates: list[str]) -> str:
    text = PROFILES.joinpath("custom_grbl_laser.toml").read_text()
    for field, lines in templates.items():
        start = text.index(f"{field} = [")
        end = text.index("\n", start)
        text = text[:start] + f"{field} = {lines!r}".replace("'", '"') + text[end:]
    return text


@pytest.mark.parametrize(
    "templates, error",
    [
        ({"pen_change": ["G0 X400 Y10", "M0"]}, OutOfBoundsError),
        ({"header": ["M7"]}, GcodeError),
        ({"header": ["G54"]}, RefusedCommandError),
        ({"header": ["$H"]}, RefusedCommandError),
        ({"header": ["G1 X10 Y10"]}, GcodeError),  # before any feed
        ({"pen_down": ["M4 S600", "G1 Z1"]}, GcodeError),  # Z move before any feed, at the first pen down
    ],
)
def test_the_moves_are_refused_with_the_error_the_text_check_gives(templates, error):
    profile = parse_profile(custom(**templates))
    program = build_program(drawing(seed=1), profile, "t")
    with pytest.raises(error) as from_text:
        check_program(program.lines(), profile)
    with pytest.raises(error) as from_moves:
        check_moves(program, profile)
    assert str(from_moves.value) == str(from_text.value)


def test_moves_in_inches_or_relative_after_a_custom_header_are_read_as_their_text_reads():
    profile = parse_profile(custom(header=["G20", "G91"]))  # the emitter's moves are now inches, relative
    program = build_program(drawing(seed=2, pens=1), profile, "t")
    with pytest.raises(OutOfBoundsError) as from_text:
        check_program(program.lines(), profile)
    with pytest.raises(OutOfBoundsError) as from_moves:
        check_moves(program, profile)
    assert str(from_moves.value) == str(from_text.value)
