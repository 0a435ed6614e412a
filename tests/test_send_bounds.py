"""Nothing reaches the board before the whole program is checked: work area, line length, unmodelled commands.

The default profile is GRBL on a 210 x 297 mm work area.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from calibration import ProfileError, default_profile, parse_profile, profile_to_toml
from robot.boards.sim_url import NAMED_SIMULATORS
from robot.host.journal import read_journal
from strokebot.cli import main

LASER = Path(__file__).resolve().parent.parent / "examples" / "profiles" / "custom_grbl_laser.toml"
HEADER = ["G21", "G90", "M5"]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def refusal(proc: subprocess.CompletedProcess) -> str:
    """The one error line of a refused command (exit 2, no traceback)."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and lines and lines[-1].startswith("strokebot: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[-1]


def send_in_process(capsys, gcode: Path, board: str) -> tuple[int, str]:
    """Run `strokebot send` here, on a named sim:// board, so the test can see whether the board was opened."""
    NAMED_SIMULATORS.pop(board, None)
    with pytest.raises(SystemExit) as exit_info:
        main(["send", str(gcode), "--port", f"sim://?name={board}", "--quiet"])
    return exit_info.value.code, capsys.readouterr().err


def test_a_move_outside_the_work_area_is_refused_by_line_before_the_board_is_even_opened(capsys, tmp_path):
    gcode = write(tmp_path / "far.gcode", [*HEADER, "G0 X10 Y10", "G1 X5000 F3000"])
    code, err = send_in_process(capsys, gcode, "bounds-far")
    assert code == 2
    assert err.strip() == ("strokebot: error: line 5 (G1 X5000 F3000) moves to (5000, 10) mm, "
                           "outside the work area 0..210 x 0..297 mm")
    assert "bounds-far" not in NAMED_SIMULATORS  # the port was never opened: not one byte was sent
    assert not gcode.with_name("far.gcode.journal").exists()


def test_an_arc_whose_ends_are_inside_but_which_bulges_outside_is_refused(run_cli, tmp_path):
    bulging = write(tmp_path / "arc.gcode", [*HEADER, "G0 X5 Y100", "G2 X5 Y150 I0 J25 F1000"])
    assert "line 5 (G2 X5 Y150 I0 J25 F1000) moves to (-" in refusal(run_cli("send", bulging, "--port", "sim", "--quiet"))
    inside = write(tmp_path / "arc_in.gcode", [*HEADER, "G0 X5 Y100", "G3 X5 Y150 I0 J25 F1000"])
    assert run_cli("send", inside, "--port", "sim", "--quiet").returncode == 0


def test_a_g92_offset_is_followed_so_later_moves_that_leave_the_area_are_refused(run_cli, tmp_path):
    gcode = write(tmp_path / "g92.gcode", [*HEADER, "G0 X200 Y10", "G92 X0 Y0", "G0 X5", "G0 X20"])
    line = refusal(run_cli("send", gcode, "--port", "sim", "--quiet"))
    assert "line 7 (G0 X20) moves to (220, 10) mm, outside the work area" in line


def test_g28_goes_to_the_origin_and_is_sent(run_cli, tmp_path):
    gcode = write(tmp_path / "home.gcode", [*HEADER, "G0 X100 Y100", "G28", "G91", "G0 X-1"])
    assert "line 7 (G0 X-1) moves to (-1, 0) mm" in refusal(run_cli("send", gcode, "--port", "sim", "--quiet"))


def test_a_settings_query_is_sent_with_a_warning(capsys, tmp_path):
    gcode = write(tmp_path / "query.gcode", [*HEADER, "$$", "T1", "G0 X10 Y10"])
    code, err = send_in_process(capsys, gcode, "bounds-query")
    assert code == 0, err
    assert "strokebot: warning: line 4 ($$) prints GRBL's settings: sent as it is" in err
    assert "strokebot: warning: line 5 (T1): the tool number is sent as it is" in err
    board = NAMED_SIMULATORS["bounds-query"]
    assert board.lines_received == 6 and board.executed_lines[-1].endswith("G0X10Y10")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("$100=80", "changes a GRBL setting (steps/mm, limits, speeds)"),
        ("$H", "the profile has no homing"),
        ("$J=G91 X500 F1000", "is a jog"),
        ("G10 L20 P1 X0 Y0", "sets work coordinate offsets"),
        ("G53 G0 X10", "moves in machine coordinates"),
        ("M6", "change pens with M0"),
    ],
)
def test_commands_whose_effect_cannot_be_checked_are_refused_with_the_reason(run_cli, tmp_path, line, reason):
    gcode = write(tmp_path / "cmd.gcode", [*HEADER, "G0 X10 Y10", line])
    error = refusal(run_cli("send", gcode, "--port", "sim", "--quiet"))
    assert f"line 5 ({line})" in error and reason in error


def test_a_line_longer_than_grbl_reads_is_refused_at_send_by_its_line_number(run_cli, tmp_path):
    long_line = "G0X10." + "0" * 70 + "Y100"  # 80 characters: error:11 on a real GRBL
    assert len(long_line) == 80
    gcode = write(tmp_path / "long.gcode", [*HEADER, long_line, "G0 X1 Y1 (comments and spaces do not count) "])
    error = refusal(run_cli("send", gcode, "--port", "sim", "--quiet"))
    assert "line 4 (G0X10.000" in error and "is 80 characters long without comments; GRBL reads at most 79" in error


def test_a_grbl_template_longer_than_79_characters_is_a_profile_error_naming_the_field():
    text = LASER.read_text().replace('pen_down = ["M4 S600"]', f'pen_down = ["M4 S600 ({"x" * 70})"]')
    with pytest.raises(ProfileError, match=r"field 'templates.pen_down' holds a line of 80 characters.*"
                                           r"GRBL reads at most 79"):
        parse_profile(text)
    parse_profile(LASER.read_text().replace('pen_down = ["M4 S600"]', f'pen_down = ["M4 S600 ({"x" * 69})"]'))


def test_draw_refuses_a_program_its_profile_makes_unsafe(run_cli, small_photo, tmp_path):
    profile = write(tmp_path / "laser.toml", [LASER.read_text().replace('header = ["G94", "M5"]',
                                                                         'header = ["G94", "$110=9000"]')])
    out = tmp_path / "out"
    error = refusal(run_cli("draw", small_photo, "-o", out, "--profile", profile, "--strokes", "5", "--iters", "1",
                            "--size", "16", "--quiet"))
    assert "($110=9000) changes a GRBL setting" in error
    assert not (out / "drawing.gcode").exists() and not (out / "sim.png").exists()


def test_resume_checks_the_remaining_lines_from_the_replayed_state(run_cli, tmp_path):
    steps = [*HEADER, "G0 X10 Y10", "G91", *(["G0 X5"] * 30), "G90", "G0 X0 Y0"]
    gcode = write(tmp_path / "steps.gcode", steps)
    assert refusal(run_cli("send", gcode, "--port", "sim://?disconnect_after_lines=10", "--quiet"))
    narrow = tmp_path / "narrow.toml"
    narrow.write_text(profile_to_toml(default_profile()).replace("width_mm = 210.0", "width_mm = 100.0"))
    journal = f"{gcode}.journal"
    error = refusal(run_cli("send", "--resume", journal, "--port", "sim", "--quiet", "--profile", narrow))
    # 10 + 5 * 19 = 105 mm: the 19th relative step (program line 24) is the first beyond 100 mm
    assert "line 24 (G0 X5) moves to (105, 10) mm, outside the work area 0..100 x 0..297 mm" in error
    assert read_journal(journal).first_unacknowledged() == 11  # nothing more was sent
