"""The GRBL 1.1 device model, driven byte by byte without any I/O."""

from __future__ import annotations

import math
import re

import pytest

from calibration import default_profile
from gcode.stats import compute_stats, junction_speed, move_seconds
from robot.boards.board import SimSettings
from robot.boards.grbl_board import GrblSimulator
from robot.boards.grbl_replies import GRBL_BANNER

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
    # GRBL counts whole steps: 7.25 mm is 1812.5 steps at $101=250, which it rounds to 1813 (7.252 mm).
    send(sim, "G0 X12.5 Y7.25", "M3 S1000")
    assert sim.receive(b"?") == b"<Idle|MPos:12.500,7.252,0.000|FS:0,1000|WCO:0.000,0.000,0.000>\r\n"
    assert sim.receive(b"?") == b"<Idle|MPos:12.500,7.252,0.000|FS:0,1000|Ov:100,100,100|A:S>\r\n"
    send(sim, "M5")
    status = sim.receive(b"?").decode()
    assert re.fullmatch(r"<Idle\|MPos:12\.500,7\.252,0\.000\|FS:0,0\|Ov:100,100,100>\r\n", status)


def test_realtime_bytes_act_inside_a_line_without_breaking_it(sim):
    answer = sim.receive(b"G0 X4?Y5\n")
    assert answer == b"<Idle|MPos:0.000,0.000,0.000|FS:0,0|WCO:0.000,0.000,0.000>\r\nok\r\n"
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


def test_m0_pauses_until_cycle_start_and_is_answered_then(sim):
    assert send(sim, "M0", "G0 X2") == []
    assert sim.state == "Hold"
    assert sim.receive(b"?").startswith(b"<Hold:0|")
    assert sim.receive(b"~") == b"ok\r\nok\r\n"
    assert sim.position[0] == 2.0


def test_m1_is_ignored_as_grbl_ignores_an_optional_stop(sim):
    assert send(sim, "M1", "G0 X2") == ["ok", "ok"]
    assert sim.state == "Idle"
    assert sim.position[0] == 2.0


def test_soft_limit_alarm_locks_out_gcode_until_unlocked():
    sim = GrblSimulator(default_profile(), SimSettings(homing=True, soft_limits=True))
    send(sim, "$H", "G0 X10 Y10", "M3 S1000", "G1 X20 F1000")
    answers = send(sim, "G1 X211")  # the work area is 210 mm wide
    assert answers == ["ALARM:2", "[MSG:Reset to continue]"]
    assert sim.state == "Alarm"
    assert sim.position[:2] == (20.0, 10.0)  # the move was not executed
    assert not sim.pen_down  # the alarm stopped the spindle
    assert sim.strokes == [[(10.0, 10.0), (20.0, 10.0)]]
    # GRBL blocks everything but a reset after a limit alarm, status reports too.
    assert send(sim, "G0 X5") == []
    assert sim.receive(b"?") == b""
    # The reset lets the line that hit the limit return: it is answered ok, then GRBL starts again.
    assert sim.receive(b"\x18") == b"ok\r\n" + GRBL_BANNER + b"[MSG:'$H'|'$X' to unlock]\r\n"
    assert sim.state == "Alarm"
    assert send(sim, "G0 X5") == ["error:9"]
    assert send(sim, "$X") == ["[MSG:Caution: Unlocked]", "ok"]
    assert sim.state == "Idle"
    assert send(sim, "G0 X5") == ["ok"]
    assert sim.position[0] == 5.0


def test_soft_limits_are_off_unless_asked_for_as_on_a_new_grbl(sim):
    assert send(sim, "G0 X500 Y-3") == ["ok"]
    assert sim.position[:2] == (500.0, -3.0)


def test_soft_reset_resends_banner_lifts_pen_and_drops_the_partial_line(sim):
    send(sim, "G0 X3 Y4", "M3 S1000", "G1 X8 F500")
    assert sim.pen_down
    assert sim.receive(b"G1 X9\x18") == GRBL_BANNER
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
    assert settings["20"] == "0" and settings["22"] == "0"
    assert float(settings["130"]) == 210.0 and float(settings["131"]) == 297.0
    assert all(re.fullmatch(r"\$\d+=[0-9.]+", line) for line in answers[:-1])
    assert send(sim, "$X") == ["ok"]  # nothing to unlock
    assert send(sim, "$Q") == ["error:2"]  # GRBL reads a setting number after '$' and finds none
    assert send(sim, "$GX") == ["error:3"]
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
    assert sim.receive(b"~") == b"ok\r\n"
    send(sim, "G0 X30", "M3 S1000", "G1 X40", "M5", "M1", "M0", "G0 X50")
    assert sim.state == "Hold"  # M1 was ignored, M0 paused
    sim.receive(b"~")
    send(sim, "M3 S1000", "G1 X60", "M5")
    assert sim.stroke_sections == [0, 0, 1, 2]
    assert len(sim.stroke_sections) == len(sim.strokes)
    assert sim.strokes[2] == [(30.0, 10.0), (40.0, 10.0)]
    assert sim.strokes[3] == [(50.0, 10.0), (60.0, 10.0)]
    sim.receive(b"\x18")  # a soft reset keeps what was drawn, and so its labels
    assert sim.stroke_sections == [0, 0, 1, 2]


# ------------------------------------------------------------------------------------------- motion time


class FakeClock:
    """A clock the test sets by hand: between two settings the simulated machine stands still in time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def timed(time_scale: float = 1.0) -> tuple[GrblSimulator, FakeClock]:
    clock = FakeClock()
    return GrblSimulator(default_profile(), SimSettings(time_scale=time_scale), clock=clock), clock


def status(sim: GrblSimulator) -> str:
    """The state, position and FS fields of a status report (WCO and Ov: see test_robot_grbl_commands)."""
    return "|".join(sim.receive(b"?").decode().strip().strip("<>").split("|")[:3]).join("<>")


ACCEL = default_profile().motion.acceleration_mm_s2
MOVE_S = move_seconds(100.0, 6000 / 60, ACCEL)  # G1 X100 F6000 from rest to rest: 1.2 s


def test_a_move_takes_its_trapezoid_time_and_reports_run_then_idle():
    sim, clock = timed()
    assert send(sim, "M3 S1000", "G1 X100 F6000") == ["ok", "ok"]  # answered once queued, not once done
    assert status(sim) == "<Run|MPos:0.000,0.000,0.000|FS:0,1000>"
    clock.now = MOVE_S / 2  # a symmetric trapezoid: half the time is half the way, at full speed
    assert status(sim) == "<Run|MPos:50.000,0.000,0.000|FS:6000,1000>"
    clock.now = MOVE_S * 0.99
    sim.poll()  # state and position are as of the last call
    assert sim.state == "Run" and 99.0 < sim.position[0] < 100.0
    assert sim.strokes == [[(0.0, 0.0)]]  # a move is drawn when it has run
    clock.now = MOVE_S
    assert status(sim) == "<Idle|MPos:100.000,0.000,0.000|FS:0,1000>"
    assert sim.strokes == [[(0.0, 0.0), (100.0, 0.0)]]


def test_time_scale_speeds_the_clock_up_and_rapids_run_at_the_travel_feed():
    sim, clock = timed(time_scale=0.01)
    travel = default_profile().motion.travel_feed_mm_min
    seconds = move_seconds(100.0, travel / 60, ACCEL) * 0.01
    assert send(sim, "G0 X100") == ["ok"]
    assert sim.due_in_s() == seconds
    clock.now = seconds * 0.99
    sim.poll()
    assert sim.state == "Run"
    clock.now = seconds
    sim.poll()
    assert sim.state == "Idle" and sim.position == (100.0, 0.0, 0.0)
    assert sim.due_in_s() is None


def run_send_response(sim: GrblSimulator, clock: FakeClock, lines: list[str]) -> float:
    """Send each line when the previous one is answered, letting time pass only while waiting; the run's length."""
    for line in lines:
        answer = sim.receive(line.encode() + b"\n")
        while not answer.endswith(b"ok\r\n"):
            clock.now += sim.due_in_s()
            answer += sim.poll()
    while sim.due_in_s() is not None:
        clock.now += sim.due_in_s()
        sim.poll()
    assert sim.state == "Idle"
    return clock.now


def test_a_program_runs_as_long_as_the_statistics_estimate():
    sim, clock = timed()
    seconds = run_send_response(sim, clock, PROGRAM)
    assert seconds == pytest.approx(compute_stats(PROGRAM, default_profile()).est_seconds, abs=1e-9)
    assert sim.strokes == [[(10.0, 20.0), (30.0, 20.0), (30.0, 45.5)], [(50.0, 50.0)]]


def fine_curve(steps: int, step_mm: float) -> list[str]:
    """A pen-down arc of many short moves (GRBL plans each as a block), then a pen lift."""
    lines = ["G21", "G90", "G0 X100 Y100", "M3 S1000", "F3000"]
    angle, x, y = 0.0, 100.0, 100.0
    for _ in range(steps):
        angle += 0.02
        x, y = x + step_mm * math.cos(angle), y + step_mm * math.sin(angle)
        lines.append(f"G1 X{x:.4f} Y{y:.4f}")
    return lines + ["M5", "G0 X0 Y0"]


def test_with_the_whole_program_in_the_planner_a_blended_run_lasts_the_estimate():
    lines = fine_curve(300, 0.1)
    clock = FakeClock()
    sim = GrblSimulator(default_profile(), SimSettings(time_scale=1.0, planner_blocks=1000), clock=clock)
    seconds = run_send_response(sim, clock, lines)
    assert seconds == pytest.approx(compute_stats(lines, default_profile(), planner_blocks=1000).est_seconds, abs=1e-9)
    assert len(sim.strokes) == 1 and len(sim.strokes[0]) == 301


def test_a_planner_too_short_to_see_a_stop_coming_runs_as_the_estimate_says_slower_than_unlimited_look_ahead():
    # 15 blocks of 0.1 mm are 1.5 mm of look-ahead, less than the 2.5 mm it takes to brake from 50 mm/s.
    lines = fine_curve(300, 0.1)
    sim, clock = timed()
    seconds = run_send_response(sim, clock, lines)
    assert seconds == pytest.approx(compute_stats(lines, default_profile()).est_seconds, abs=1e-9)
    assert seconds > compute_stats(lines, default_profile(), planner_blocks=len(lines)).est_seconds * 1.01
    coarse = fine_curve(100, 2.0)  # 30 mm of look-ahead: enough to run as estimated
    sim, clock = timed()
    assert run_send_response(sim, clock, coarse) == pytest.approx(
        compute_stats(coarse, default_profile()).est_seconds, abs=1e-9
    )


def test_two_moves_in_line_run_as_one_without_stopping_between_them():
    sim, clock = timed()
    assert send(sim, "G1 X50 F6000", "G1 X100") == ["ok", "ok"]
    clock.now = MOVE_S / 2  # the end of the first move: still at full speed
    assert status(sim) == "<Run|MPos:50.000,0.000,0.000|FS:6000,0>"
    clock.now = MOVE_S
    assert status(sim) == "<Idle|MPos:100.000,0.000,0.000|FS:0,0>"


def test_a_corner_is_taken_at_the_junction_deviation_speed():
    sim, clock = timed()
    send(sim, "G1 X50 F6000", "G1 Y50")
    clock.now = sim.due_in_s()  # the first move is done: the second starts at the corner speed
    corner = junction_speed((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), ACCEL)
    assert 0 < corner < 100
    assert status(sim) == f"<Run|MPos:50.000,0.000,0.000|FS:{corner * 60:.0f},0>"


def test_a_full_planner_holds_back_the_next_ok_until_a_block_is_done():
    sim, clock = timed()
    # 15 blocks fit the planner; the 16th move waits in the main loop and the 17th in the receive buffer.
    assert send(sim, "G91", *["G0 X1"] * 17) == ["ok"] * 16
    assert sim.busy()
    first_block_s = sim.due_in_s()
    assert first_block_s < move_seconds(1.0, 6000 / 60, ACCEL)  # it flows on into the next block: no stop
    clock.now = first_block_s * 0.99
    assert sim.poll() == b""
    clock.now = first_block_s
    assert sim.poll() == b"ok\r\n"
    assert len(sim.executed_lines) == 17
    assert sim.position[0] == pytest.approx(1.0)


def test_pen_changes_wait_until_the_machine_stands_still():
    sim, clock = timed()
    # GRBL synchronises spindle changes with motion: M3 waits, and so does everything sent after it.
    assert send(sim, "G1 X100 F6000", "M3 S1000", "G1 X0") == ["ok"]
    assert not sim.pen_down and sim.state == "Run"
    clock.now = MOVE_S
    assert sim.poll() == b"ok\r\nok\r\n"
    assert sim.pen_down and sim.state == "Run"  # the pen went down at X100 and the next move started
    assert [(e.number, e.text, e.clock_s) for e in sim.execution_log] == [
        (1, "G1 X100 F6000", 0.0),
        (2, "M3 S1000", MOVE_S),
        (3, "G1 X0", MOVE_S),
    ]
    clock.now = 2 * MOVE_S
    sim.poll()
    assert sim.strokes == [[(100.0, 0.0), (0.0, 0.0)]]


def test_a_dwell_takes_its_time_in_idle_and_is_answered_when_over():
    sim, clock = timed()
    assert send(sim, "G4 P0.5") == []
    assert status(sim).startswith("<Idle|")  # GRBL reports Idle while it dwells
    clock.now = 0.49
    assert sim.poll() == b""
    clock.now = 0.5
    assert sim.poll() == b"ok\r\n"


def test_feed_hold_stops_motion_and_cycle_start_resumes_it():
    sim, clock = timed()
    send(sim, "G1 X100 F6000")
    clock.now = MOVE_S / 2
    assert sim.receive(b"!") == b""
    assert status(sim) == "<Hold:0|MPos:50.000,0.000,0.000|FS:0,0>"
    assert sim.due_in_s() is None
    clock.now += 10.0
    assert status(sim) == "<Hold:0|MPos:50.000,0.000,0.000|FS:0,0>"  # held: no time passes for the move
    assert sim.receive(b"~") == b""
    assert status(sim) == "<Run|MPos:50.000,0.000,0.000|FS:6000,0>"
    clock.now += MOVE_S / 2 * 0.99
    assert status(sim).startswith("<Run|")
    clock.now += MOVE_S / 2 * 0.02
    assert status(sim) == "<Idle|MPos:100.000,0.000,0.000|FS:0,0>"


def test_a_program_pause_waits_for_the_machine_then_holds():
    sim, clock = timed()
    assert send(sim, "G1 X100 F6000", "M0", "G0 X0") == ["ok"]
    assert sim.state == "Run"
    clock.now = MOVE_S
    assert sim.poll() == b""
    assert sim.state == "Hold"
    assert sim.receive(b"~") == b"ok\r\nok\r\n"  # the pause, then the move after it
    assert sim.state == "Run"


def test_a_reset_in_motion_stops_dead_and_raises_alarm_3():
    sim, clock = timed()
    send(sim, "M3 S1000", "G1 X100 F6000", "G1 X0")
    clock.now = MOVE_S / 2
    answer = sim.receive(b"\x18")
    assert answer == b"ALARM:3\r\n" + GRBL_BANNER + b"[MSG:'$H'|'$X' to unlock]\r\n"
    assert sim.state == "Alarm" and not sim.pen_down
    assert sim.position == pytest.approx((50.0, 0.0, 0.0))
    assert len(sim.strokes) == 1 and sim.strokes[0][0] == (0.0, 0.0)
    assert sim.strokes[0][1] == pytest.approx((50.0, 0.0))  # drawn up to where it stopped
    assert send(sim, "$X") == ["[MSG:Caution: Unlocked]", "ok"]
    assert send(sim, "G0 X10") == ["ok"]


def test_settings_cannot_be_printed_while_moving():
    sim, clock = timed()
    assert send(sim, "G1 X100 F6000", "$$") == ["ok", "error:8"]
    clock.now = MOVE_S
    assert send(sim, "$$")[-1] == "ok"


def test_the_execution_log_numbers_the_received_lines(sim):
    # Every line with something in it counts (rejected ones and '$' commands too); empty lines do not.
    send(sim, "G21", "", "(only a comment)", "G99", "$$", "G0 X1")
    assert [(e.number, e.text) for e in sim.execution_log] == [(1, "G21"), (4, "G0 X1")]
    assert sim.lines_received == 4
