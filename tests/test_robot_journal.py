"""The job journal and what a resumed job sends first: the file format, torn records, the state preamble."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from calibration import default_profile, load_profile
from gcode.reader import GcodeInterpreter
from gcode.dialects import flavour_for
from robot.host.journal import Journal, JournalError, JournalHeader, default_journal_path, program_header, read_journal
from robot.host.resume import plan_resume, plan_resume_missing, restore_state, rewind_line, whole_program

PROFILES = Path(__file__).resolve().parent.parent / "examples" / "profiles"
HEADER = JournalHeader(program="/plots/d.gcode", sha256="ab" * 32, profile=None)


def test_a_journal_is_a_header_then_one_acknowledged_line_number_per_line(tmp_path):
    path = tmp_path / "d.gcode.journal"
    journal = Journal.create(path, HEADER)
    assert not path.exists()  # nothing is written before the first acknowledgement
    for line_no in (1, 2, 3):
        journal.acknowledge(line_no)
        assert path.read_text().splitlines()[-1] == str(line_no)  # flushed as it goes, before close
    journal.close()
    first, *records = path.read_text().splitlines()
    assert first.startswith("strokebot-journal 1 ")
    assert json.loads(first.split(" ", 2)[2]) == {"program": "/plots/d.gcode", "sha256": "ab" * 32, "profile": None}
    assert records == ["1", "2", "3"]
    state = read_journal(path)
    assert state.header == HEADER and state.acknowledged == {1, 2, 3} and state.first_unacknowledged() == 4


def test_a_torn_last_record_is_ignored_and_cut_off_when_the_journal_goes_on(tmp_path):
    path = tmp_path / "j"
    with Journal.create(path, HEADER) as journal:
        for line_no in range(1, 6):
            journal.acknowledge(line_no)
    path.write_bytes(path.read_bytes() + b"6")  # the crash came in the middle of writing "6\n"... or "67\n"
    assert read_journal(path).acknowledged == {1, 2, 3, 4, 5}
    with Journal.reopen(path) as journal:
        journal.acknowledge(6)
    assert path.read_text().splitlines()[-2:] == ["5", "6"]
    assert read_journal(path).acknowledged == set(range(1, 7))


def test_a_rewind_takes_back_the_acknowledgements_from_its_line_on(tmp_path):
    path = tmp_path / "j"
    with Journal.create(path, HEADER) as journal:
        for line_no in range(1, 21):
            journal.acknowledge(line_no)
        journal.rewind(15)
        assert journal.acknowledged == set(range(1, 15))
        journal.acknowledge(15)
    assert read_journal(path).acknowledged == set(range(1, 16))


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "is not a strokebot journal"), ("G21\nG90\n", "is not a strokebot journal"),
     ("strokebot-journal 1 {nope\n", "header is damaged"),
     ('strokebot-journal 1 {"program": "/a", "sha256": "%s", "profile": null}\n1\nxx\n3\n' % ("0" * 64), "line 3"),
     ('strokebot-journal 1 {"program": "a", "sha256": "b", "profile": null}\n1\n', "'program' must be an absolute")],
)
def test_a_broken_journal_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "j"
    path.write_text(text)
    with pytest.raises(JournalError, match=message):
        read_journal(path)


def test_the_header_names_the_program_by_absolute_path_and_content(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("d.gcode").write_text("G21\n")
    header = program_header("d.gcode", None)
    assert header.program == str(tmp_path / "d.gcode")
    assert header.sha256 == hashlib.sha256(b"G21\n").hexdigest() and header.profile is None
    assert default_journal_path(Path("out/d.gcode")) == Path("out/d.gcode.journal")


# --------------------------------------------------------------------------------------- the preamble


def state_after(lines: list[str], profile) -> object:
    interpreter = GcodeInterpreter(flavour=flavour_for(profile))
    for line in lines:
        interpreter.execute(line)
    return interpreter.state


PROGRAM = ["G21", "G90", "M5", "G0 X10 Y20", "M3 S1000", "G4 P0.1", "G1 X30 Y20 F2500", "G1 X30 Y40", "M5", "M2"]


def test_the_preamble_restores_units_modes_position_pen_and_feed():
    profile = default_profile()
    plan = plan_resume(PROGRAM, 8, profile)
    assert plan.lines[: -3] == ["G21", "G90", "M5", "G4 P0.150", "G0 X30.000 Y20.000", "M3 S1000", "G4 P0.150",
                                "G1 F2500.000"]
    assert plan.lines[-3:] == PROGRAM[7:]
    assert plan.program_lines == [None] * 8 + [8, 9, 10]
    assert plan.start_line == 8
    # Read back, the preamble leaves the machine in the state the program had before line 8.
    fresh = state_after(plan.lines[:8], profile)
    before = state_after(PROGRAM[:7], profile)
    assert (fresh.x_mm, fresh.y_mm, fresh.feed_mm_min, fresh.pen_down, fresh.motion, fresh.absolute) == (
        before.x_mm, before.y_mm, before.feed_mm_min, before.pen_down, before.motion, before.absolute)


def test_the_preamble_lifts_and_lowers_the_pen_in_the_machine_s_own_words():
    profile = load_profile(PROFILES / "a3_grbl_z.toml")
    lines = ["G21", "G90", "G0 Z5", "G0 X12.5 Y7", "G1 Z0 F300", "G91", "G1 X1 Y1 F1800", "G1 X1 Y0"]
    preamble = plan_resume(lines, 8, profile).lines[:-1]
    state = state_after(lines[:7], profile)
    assert preamble == restore_state(state, profile)
    assert preamble[2].startswith("G0 Z") and preamble[3] == "G0 X13.500 Y8.000"  # up, travel, ...
    assert preamble[4].startswith("G1 Z")  # ... down again on Z, not M3
    assert preamble[-2:] == ["G1 F1800.000", "G91"]  # the Z plunge's feed is replaced; incremental mode last
    resumed = state_after(preamble, profile)
    assert (resumed.x_mm, resumed.y_mm, resumed.pen_down, resumed.absolute, resumed.feed_mm_min) == (
        13.5, 8.0, True, False, 1800.0)


def test_inches_are_restored_after_the_millimetre_preamble():
    profile = default_profile()
    lines = ["G20", "G90", "G0 X1 Y1", "G1 X2 F100", "G1 X3"]
    preamble = plan_resume(lines, 5, profile).lines[:-1]
    assert preamble[-1] == "G20" and "G0 X50.800 Y25.400" in preamble and "G1 F2540.000" in preamble
    resumed = state_after(preamble, profile)
    assert resumed.mm_per_unit == 25.4 and resumed.x_mm == pytest.approx(50.8)


def test_a_new_job_is_the_whole_program():
    plan = whole_program(PROGRAM)
    assert plan.lines == PROGRAM and plan.program_lines == list(range(1, 11)) and plan.start_line == 1


# ----------------------------------------------------------------------------------------- rewinding


STROKES = ["G21", "G90", "M5", "G0 X10 Y10", "M3 S1000", "G4 P0.1"] + [f"G1 X{10 + i} Y10 F3000" for i in range(1, 31)]


def test_after_a_stop_the_job_goes_back_to_the_line_the_machine_was_on():
    acknowledged = set(range(1, 30))  # line k moves from X k+3 to X k+4; the machine had got to X 20.5
    assert rewind_line(STROKES, acknowledged, (20.5, 10.0, 0.0), default_profile()) == 17


def test_a_line_that_ends_where_the_machine_stopped_has_run_and_is_not_taken_back():
    acknowledged = set(range(1, 30))  # line 16 goes to X 20 and line 17 from there: 16 was done
    assert rewind_line(STROKES, acknowledged, (20.0, 10.0, 0.0), default_profile()) == 17
    assert rewind_line(STROKES, acknowledged, (33.0, 10.0, 0.0), default_profile()) == 30  # all of them ran


def test_a_line_that_ends_where_it_starts_tells_nothing_and_is_run_again():
    there_and_back = ["G21", "G90", "G0 X10 Y10", "G1 X20 F3000", "G1 X20", "G1 X10", "G1 X20"]
    assert rewind_line(there_and_back, set(range(1, 8)), (20.0, 10.0, 0.0), default_profile()) == 5


def test_without_a_position_the_job_goes_back_as_far_as_a_planner_can_hold():
    acknowledged = set(range(1, 30))
    assert rewind_line(STROKES, acknowledged, None, default_profile()) == 29 - 16 + 1
    assert rewind_line(STROKES, acknowledged, (99.0, 99.0, 0.0), default_profile()) == 14


def test_nothing_before_a_line_that_waited_for_the_machine_is_taken_back():
    acknowledged = set(range(1, 9))  # M3 and its dwell waited for the machine to stand still
    assert rewind_line(STROKES, acknowledged, None, default_profile()) == 7
    assert rewind_line(STROKES, set(range(1, 7)), None, default_profile()) == 7


# ------------------------------------------------------------------------------ lines missing in between


def test_lines_the_board_ran_after_one_it_refused_are_not_run_again():
    profile = default_profile()
    acknowledged = set(range(1, 36)) - {20}  # GRBL refused line 20 and ran what it had buffered after it
    plan = plan_resume_missing(STROKES, acknowledged, profile)
    assert plan.start_line == 20
    assert [n for n in plan.program_lines if n is not None] == [20, 36]
    assert plan.lines[plan.program_lines.index(20) - 1] == "G1 F3000.000"
    assert state_after(plan.lines[: plan.program_lines.index(20)], profile).x_mm == 23.0  # where line 20 starts
    assert state_after(plan.lines[: plan.program_lines.index(36)], profile).x_mm == 39.0  # where 36 starts


def test_after_a_pen_change_in_between_the_job_goes_on_from_the_first_missing_line():
    lines = STROKES[:20] + ["M0 (change to pen red)"] + STROKES[20:]
    acknowledged = set(range(1, 30)) - {12}
    assert plan_resume_missing(lines, acknowledged, default_profile()) == plan_resume(lines, 12, default_profile())


def test_lines_sent_but_not_yet_answered_may_be_where_the_machine_stopped():
    acknowledged = set(range(1, 21))  # lines 21 to 25 were sent; their answers were lost in the stop
    assert rewind_line(STROKES, acknowledged, (26.5, 10.0, 0.0), default_profile(), sent_through=25) == 23
    assert rewind_line(STROKES, acknowledged, (26.5, 10.0, 0.0), default_profile()) == 7  # not on one: the earliest
