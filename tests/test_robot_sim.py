"""The GRBL 1.1 device model, driven byte by byte without any I/O."""

from __future__ import annotations

import re

import pytest

from calibration import default_profile
from robot.grbl_sim import BANNER, GrblSimulator, SimSettings

PROGRAM = [
    "G21",
    "G90",
    "M5",
    "G4 P0.150",
    "G0 X10.000 Y20.000",
    "M3 S1000",
    "G4 P0.150",
    "G1 X30.000 Y20.000 F3000.000",
    "G1 X30.000 Y45.500",
    "M5",
    "G4 P0.150",
    "G0 X50.000 Y50.000",
    "M3 S1000",
    "G4 P0.150",
    "M5",
    "G4 P0.150",
    "G0 X0.000 Y0.000",
    "M2",
]


def send(sim: GrblSimulator, *lines: str) -> list[str]:
    """Send lines and return GRBL's answer split into lines."""
    data = "".join(line + "\n" for line in lines).encode("ascii")
    return sim.receive(data).decode("ascii").split("\r\n")[:-1]


@pytest.fixture
def sim() -> GrblSimulator:
    return GrblSimulator(default_profile())


def test_banner_is_grbl_1_1(sim):
    assert sim.banner() == b"\r\nGrbl 1.1h ['$' for help]\r\n"
    assert sim.state == "Idle"


def test_valid_program_is_answered_ok_and_draws_its_strokes(sim):
    answers = send(sim, *PROGRAM)
    assert answers == ["ok"] * (len(PROGRAM) - 1) + ["[MSG:Pgm End]", "ok"]
    assert sim.strokes == [[(10.0, 20.0), (30.0, 20.0), (30.0, 45.5)], [(50.0, 50.0)]]
    assert sim.executed_lines == PROGRAM
    assert sim.position == (0.0, 0.0, 0.0)
    assert not sim.pen_down


def test_line_endings_comments_and_case_are_handled_like_grbl(sim):
    # GRBL ends a line at '\r' or '\n', so "\r\n" is a line and an empty line: two answers (why hosts send '\n').
    answers = sim.receive(b"g0 x5 (travel) y6\r\n; only a comment\n\n   \nG0X7Y8\r").decode().split("\r\n")
    assert answers[:-1] == ["ok"] * 6
    assert sim.position[:2] == (7.0, 8.0)
    assert sim.executed_lines == ["g0 x5 (travel) y6", "G0X7Y8"]


def test_a_line_split_across_reads_is_executed_once_complete(sim):
    assert sim.receive(b"G0 X1") == b""
    assert sim.receive(b"2.5 Y3\n") == b"ok\r\n"
    assert sim.position[:2] == (12.5, 3.0)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("G99", 20),  # unsupported command
        ("G1 X", 2),  # bad number format: a letter without a value
        ("G1 X1.2.3", 1),  # GRBL reads X1.2, then '.' is not a command letter
        ("G1 X1", 22),  # no feed rate set yet
        ("G0 X1 G1 Y2", 24),  # two motion commands
    ],
)
def test_bad_lines_get_grbl_error_numbers_and_change_nothing(sim, line, code):
    assert send(sim, line) == [f"error:{code}"]
    assert sim.position == (0.0, 0.0, 0.0)
    assert sim.executed_lines == []
    assert send(sim, "G0 X3") == ["ok"]  # the board goes on after an error


def test_status_report_shows_state_position_and_pen(sim):
    send(sim, "G0 X12.5 Y7.25", "M3 S1000")
    assert sim.receive(b"?") == b"<Idle|MPos:12.500,7.250,0.000|FS:0,1000>\r\n"
    send(sim, "M5")
    status = sim.receive(b"?").decode()
    assert re.fullmatch(r"<Idle\|MPos:12\.500,7\.250,0\.000\|FS:0,0>\r\n", status)


def test_realtime_bytes_act_inside_a_line_without_breaking_it(sim):
    answer = sim.receive(b"G0 X4?Y5\n")
    assert answer == b"<Idle|MPos:0.000,0.000,0.000|FS:0,0>\r\nok\r\n"
    assert sim.position[:2] == (4.0, 5.0)


def test_feed_hold_and_cycle_start(sim):
    assert sim.receive(b"!") == b""
    assert sim.state == "Hold"
    assert sim.receive(b"?").startswith(b"<Hold:0|")
    # While held the board takes no line: it waits in the receive buffer until cycle start.
    assert sim.receive(b"G0 X9\n") == b""
    assert sim.position[0] == 0.0
    assert sim.receive(b"~") == b"ok\r\n"
    assert sim.state == "Idle"
    assert sim.position[0] == 9.0


def test_m0_pauses_until_cycle_start(sim):
    assert send(sim, "M0", "G0 X2") == ["ok"]
    assert sim.state == "Hold"
    assert sim.receive(b"~") == b"ok\r\n"
    assert sim.position[0] == 2.0


def test_soft_limit_alarm_locks_out_gcode_until_unlocked(sim):
    send(sim, "G0 X10 Y10", "M3 S1000", "G1 X20 F1000")
    answers = send(sim, "G1 X211")  # the work area is 210 mm wide
    assert answers == ["ALARM:2", "[MSG:Reset to continue]"]
    assert sim.state == "Alarm"
    assert sim.position[:2] == (20.0, 10.0)  # the move was not executed
    assert not sim.pen_down  # the alarm stopped the spindle
    assert sim.strokes == [[(10.0, 10.0), (20.0, 10.0)]]
    # GRBL blocks everything but a reset after a limit alarm.
    assert send(sim, "G0 X5") == []
    assert sim.receive(b"\x18") == BANNER + b"[MSG:'$H'|'$X' to unlock]\r\n"
    assert sim.state == "Alarm"
    assert send(sim, "G0 X5") == ["error:9"]
    assert send(sim, "$X") == ["[MSG:Caution: Unlocked]", "ok"]
    assert sim.state == "Idle"
    assert send(sim, "G0 X5") == ["ok"]
    assert sim.position[0] == 5.0


def test_soft_limits_can_be_switched_off():
    sim = GrblSimulator(default_profile(), SimSettings(soft_limits=False))
    assert send(sim, "G0 X500 Y-3") == ["ok"]
    assert sim.position[:2] == (500.0, -3.0)


def test_soft_reset_resends_banner_lifts_pen_and_drops_the_partial_line(sim):
    send(sim, "G0 X3 Y4", "M3 S1000", "G1 X8 F500")
    assert sim.pen_down
    assert sim.receive(b"G1 X9\x18") == BANNER
    assert not sim.pen_down
    assert sim.state == "Idle"
    assert sim.receive(b"\n") == b"ok\r\n"  # the half line before the reset is gone
    assert sim.position[:2] == (8.0, 4.0)  # a reset keeps the position
    assert send(sim, "G1 X10") == ["error:22"]  # ... but forgets the parser modes (feed rate)
    assert sim.strokes == [[(3.0, 4.0), (8.0, 4.0)]]


def test_settings_report_and_system_commands(sim):
    answers = send(sim, "$$")
    assert answers[-1] == "ok"
    settings = dict(line[1:].split("=") for line in answers[:-1])
    assert settings["20"] == "1"
    assert float(settings["130"]) == 210.0 and float(settings["131"]) == 297.0
    assert all(re.fullmatch(r"\$\d+=[0-9.]+", line) for line in answers[:-1])
    assert send(sim, "$X") == ["ok"]  # nothing to unlock
    assert send(sim, "$Q") == ["error:3"]
    assert send(sim, "$")[-1] == "ok"


def test_a_line_longer_than_the_line_buffer_is_an_overflow(sim):
    long = "G0 X1.000000000" + "0" * 80
    assert send(sim, long) == ["error:11"]
    assert sim.executed_lines == []
    assert send(sim, "G0 X1") == ["ok"]


def test_receive_buffer_drops_what_does_not_fit(sim):
    sim.receive(b"!")  # held: nothing leaves the receive buffer
    sim.receive(b"G0 X1\n" * 30)  # 180 bytes into 127
    assert sim.rx_peak_bytes == 127
    assert sim.rx_overflow_bytes == 180 - 127
    answers = sim.receive(b"~").decode().split("\r\n")[:-1]
    assert answers[:21] == ["ok"] * 21  # 21 whole lines fitted; the 22nd was cut short
    assert len(sim.executed_lines) == 21


def test_strokes_are_labelled_with_the_program_section_that_drew_them(sim):
    # Section k = strokes after the k-th program pause: the pipeline maps it to the k-th layer's pen.
    send(sim, "G0 X10 Y10", "M3 S1000", "G1 X20 F1000", "M5", "M3 S1000", "M5", "M0 (pen two)")
    assert sim.stroke_sections == [0, 0]
    assert sim.receive(b"~") == b""
    send(sim, "G0 X30", "M3 S1000", "G1 X40", "M5", "M1", "G0 X50")
    assert sim.state == "Hold"  # M1 pauses like M0 in this model
    sim.receive(b"~")
    send(sim, "M3 S1000", "G1 X60", "M5")
    assert sim.stroke_sections == [0, 0, 1, 2]
    assert len(sim.stroke_sections) == len(sim.strokes)
    assert sim.strokes[2] == [(30.0, 10.0), (40.0, 10.0)]
    assert sim.strokes[3] == [(50.0, 10.0), (60.0, 10.0)]
    sim.receive(b"\x18")  # a soft reset keeps what was drawn, and so its labels
    assert sim.stroke_sections == [0, 0, 1, 2]
