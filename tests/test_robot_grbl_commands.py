"""The simulated GRBL answers '$' commands, check mode, homing and status reports as GRBL 1.1h does."""

from __future__ import annotations

import pytest

from calibration import default_profile
from robot.boards.board import SimSettings
from robot.boards.grbl_board import GrblSimulator
from robot.boards.grbl_eeprom import GrblEeprom
from robot.boards.grbl_replies import GRBL_BANNER
from robot.firmware.grbl_status import parse_status

LOCKED = "[MSG:'$H'|'$X' to unlock]"
HOMING = SimSettings(homing=True, soft_limits=True)


def send(sim: GrblSimulator, *lines: str) -> list[str]:
    """Send lines and return GRBL's answer split into lines."""
    data = "".join(line + "\n" for line in lines).encode("ascii")
    return sim.receive(data).decode("ascii").split("\r\n")[:-1]


def status(sim: GrblSimulator) -> str:
    return sim.receive(b"?").decode("ascii").strip()


def board(settings: SimSettings = SimSettings(), **kwargs) -> GrblSimulator:
    return GrblSimulator(default_profile(), settings, **kwargs)


# ------------------------------------------------------------------------------------------ check mode


def test_check_mode_parses_and_answers_every_line_but_nothing_moves_or_draws():
    sim = board()
    assert send(sim, "$C") == ["[MSG:Enabled]", "ok"]
    assert sim.state == "Check"
    assert status(sim).startswith("<Check|MPos:0.000,0.000,0.000|FS:0,0")
    program = ["G21", "G0 X10 Y10", "M3 S1000", "G4 P5", "G1 X50 F1000", "G99", "M5", "M2"]
    assert send(sim, *program) == ["ok"] * 5 + ["error:20", "ok", "[MSG:Pgm End]", "ok"]
    assert sim.position == (0.0, 0.0, 0.0)
    assert not sim.pen_down
    assert sim.strokes == []
    assert sim.executed_lines == []
    assert sim.checked_lines == [line for line in program if line != "G99"]


def test_a_program_pause_does_not_hold_in_check_mode():
    sim = board()
    send(sim, "$C")
    assert send(sim, "M0", "G0 X5") == ["ok", "ok"]
    assert sim.state == "Check"


def test_leaving_check_mode_resets_the_board_and_forgets_the_checked_modes():
    sim = board()
    send(sim, "$C", "G20", "G91", "F500")
    assert send(sim, "$G") == ["[GC:G0 G54 G17 G20 G91 G94 M5 M9 T0 F12700 S0]", "ok"]
    assert sim.receive(b"$C\n") == b"[MSG:Disabled]\r\nok\r\n" + GRBL_BANNER
    assert sim.state == "Idle"
    assert send(sim, "$G") == ["[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]", "ok"]
    assert send(sim, "G0 X3") == ["ok"]
    assert sim.position[0] == 3.0 and sim.executed_lines == ["G0 X3"]


def test_check_mode_needs_an_idle_board_and_blocks_the_commands_that_need_one():
    sim = board(HOMING)
    sim.receive(b"\n")
    assert send(sim, "$C") == ["error:8"]  # in Alarm
    send(sim, "$X", "$C")
    assert send(sim, "$#", "$I", "$N", "$H", "$1=30", "$SLP") == ["error:8"] * 6
    assert send(sim, "$$")[-1] == "ok"
    assert send(sim, "$G")[-1] == "ok"


def test_check_mode_ignores_feed_hold_and_a_soft_reset_leaves_it_without_a_message():
    sim = board()
    send(sim, "$C")
    assert sim.receive(b"!") == b""
    assert sim.state == "Check"
    assert sim.receive(b"\x18") == GRBL_BANNER
    assert sim.state == "Idle"


def test_soft_limits_still_alarm_in_check_mode():
    sim = board(HOMING)
    send(sim, "$H", "$C")
    assert send(sim, "G0 X500") == ["ALARM:2", "[MSG:Reset to continue]"]
    assert sim.receive(b"\x18").decode().split("\r\n")[:-1] == ["ok", "", "Grbl 1.1h ['$' for help]", LOCKED]
    assert sim.state == "Alarm"


# ---------------------------------------------------------------------------------------------- homing


def test_soft_limits_need_homing_as_in_grbl():
    assert SimSettings() == SimSettings(homing=False, soft_limits=False)  # GRBL's factory $20=0, $22=0
    with pytest.raises(ValueError, match=r"soft limits \(\$20\) only with homing \(\$22\)"):
        SimSettings(soft_limits=True)


def test_with_homing_on_the_board_powers_up_in_alarm_and_locks_out_gcode():
    sim = board(SimSettings(homing=True))
    assert sim.banner() == GRBL_BANNER + LOCKED.encode() + b"\r\n"
    assert sim.state == "Alarm"
    assert status(sim).startswith("<Alarm|")
    assert send(sim, "G0 X5") == ["error:9"]
    assert send(sim, "", "$$")[0] == "ok"  # empty lines and settings are answered in Alarm
    assert sim.receive(b"\x18") == GRBL_BANNER + LOCKED.encode() + b"\r\n"  # each reset says it again
    assert send(sim, "$X") == ["[MSG:Caution: Unlocked]", "ok"]
    assert sim.state == "Idle"
    assert send(sim, "G0 X5") == ["ok"]
    assert sim.receive(b"\x18") == GRBL_BANNER  # unlocked, a reset keeps it so


def test_homing_travels_to_the_machine_origin_clears_the_alarm_and_is_answered_when_done():
    clock = FakeClock()
    sim = board(SimSettings(homing=True, time_scale=1.0), clock=clock)
    send(sim, "$X", "G0 X30 Y40")
    clock.now = 60.0
    sim.poll()
    assert send(sim, "$H") == []
    assert status(sim).startswith("<Home|")
    assert send(sim, "G0 X1") == []  # the main loop is busy homing
    clock.now = 120.0
    assert sim.poll() == b"ok\r\nok\r\n"
    assert sim.state == "Idle"
    assert sim.position == (1.0, 0.0, 0.0)


def test_homing_a_machine_without_limit_switches_fails_as_grbl_does():
    clock = FakeClock()
    sim = board(SimSettings(homing=True, limit_switches=False, time_scale=1.0), clock=clock)
    send(sim, "$X", "G0 X3")
    clock.now = 10.0
    assert send(sim, "$H") == []
    assert status(sim).startswith("<Home|")
    clock.now = 70.0  # the Z cycle seeks 1.5 x $132 = 300 mm at $25 = 500 mm/min: 36 s and more
    answer = sim.poll().decode().split("\r\n")[:-1]
    assert answer == ["ALARM:9", "ok", "", "Grbl 1.1h ['$' for help]", LOCKED]
    assert sim.state == "Alarm" and sim.position == (3.0, 0.0, 300.0)


def test_a_reset_while_homing_is_alarm_6():
    clock = FakeClock()
    sim = board(SimSettings(homing=True, time_scale=1.0), clock=clock)
    send(sim, "$X", "G0 X30")
    clock.now = 60.0
    send(sim, "$H")
    clock.now = 60.5
    answer = sim.receive(b"\x18").decode().split("\r\n")[:-1]
    assert answer == ["ALARM:6", "ok", "", "Grbl 1.1h ['$' for help]", LOCKED]


def test_homing_with_an_axis_leaves_the_board_stuck_in_home_as_grbl_1_1h_does():
    # system.c sets the homing state before it finds that "$HX" (single-axis homing) is not built in.
    sim = board(SimSettings(homing=True))
    send(sim, "$X")
    assert send(sim, "$HX") == ["error:3"]
    assert status(sim).startswith("<Home|")
    assert send(sim, "T3", "G0 X-1", "$N", "$X") == ["ok", "ok", "error:8", "ok"]  # lines queue; nothing moves
    assert send(sim, "G4 P0.1", "$#") == []  # a line that waits for the planner waits for ever
    sim.receive(b"~!")
    assert sim.position == (0.0, 0.0, 0.0) and sim.state == "Home"
    answer = sim.receive(b"\x18").decode().split("\r\n")[:-1]
    assert answer == ["ALARM:6", "ok", "", "Grbl 1.1h ['$' for help]", LOCKED]


def test_homing_needs_homing_enabled():
    sim = board()
    assert send(sim, "$H") == ["error:5"]
    assert send(sim, "$HX") == ["error:5"]


class FakeClock:
    """A clock the test sets by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------------ system commands


def test_build_info_names_1_1h_its_options_and_buffers():
    sim = board()
    assert send(sim, "$I") == ["[VER:1.1h.20190825:]", "[OPT:V,15,128]", "ok"]
    assert send(sim, "$I=pen plotter") == ["ok"]  # GRBL stores what its line filter left
    assert send(sim, "$I")[0] == "[VER:1.1h.20190825:PENPLOTTER]"


def test_help_lists_the_commands():
    assert send(board(), "$") == ["[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]", "ok"]


def test_parser_state_follows_the_modes_of_the_lines_executed():
    sim = board()
    assert send(sim, "$G") == ["[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]", "ok"]
    send(sim, "G1 X10 F1500", "G91", "M4 S300", "T3")
    assert send(sim, "$G") == ["[GC:G1 G54 G17 G21 G91 G94 M4 M9 T3 F1500 S300]", "ok"]
    send(sim, "G20", "M3")  # GRBL takes T from each line: without one it is 0 again
    assert send(sim, "$G")[0] == "[GC:G1 G54 G17 G20 G91 G94 M3 M9 T0 F1500 S300]"  # F is kept in mm/min
    send(sim, "M2 T7")  # program end: G1 G90 M5; units, F and S stay
    assert send(sim, "$G")[0] == "[GC:G1 G54 G17 G20 G90 G94 M5 M9 T7 F1500 S300]"


def test_tool_words_are_checked_as_grbl_checks_them():
    sim = board()
    assert send(sim, "T256", "T-1", "T1 T2") == ["error:38", "error:4", "error:25"]


def test_parameters_are_zero_but_for_the_g92_offset():
    sim = board()
    send(sim, "G0 X20 Y30", "G92 X0 Y0")
    assert send(sim, "$#") == [
        "[G54:0.000,0.000,0.000]",
        "[G55:0.000,0.000,0.000]",
        "[G56:0.000,0.000,0.000]",
        "[G57:0.000,0.000,0.000]",
        "[G58:0.000,0.000,0.000]",
        "[G59:0.000,0.000,0.000]",
        "[G28:0.000,0.000,0.000]",
        "[G30:0.000,0.000,0.000]",
        "[G92:20.000,30.000,0.000]",
        "[TLO:0.000]",
        "[PRB:0.000,0.000,0.000:0]",
        "ok",
    ]
    assert send(sim, "$#X") == ["error:3"]


def test_startup_lines_are_stored_listed_and_run_after_every_reset():
    sim = board()
    assert send(sim, "$N") == ["$N0=", "$N1=", "ok"]
    assert send(sim, "$N0=G20", "$N1=G91 G0 X1") == ["ok", "ok"]  # executed when stored, too
    assert sim.position[0] == 25.4
    assert send(sim, "$N") == ["$N0=G20", "$N1=G91G0X1", "ok"]
    assert send(sim, "$N0=G99") == ["error:20"]
    assert sim.receive(b"\x18") == GRBL_BANNER
    assert send(sim, "$G") == [">G20:ok", ">G91G0X1:ok", "[GC:G0 G54 G17 G20 G91 G94 M5 M9 T0 F0 S0]", "ok"]
    assert sim.position[0] == pytest.approx(50.8)
    assert sim.executed_lines == []  # startup lines and '$' commands are not lines of the program


def test_startup_lines_are_stored_only_when_idle_and_not_run_in_alarm():
    sim = board(SimSettings(homing=True))
    assert send(sim, "$N0=G20") == ["error:8"]
    sim.eeprom.startup_lines[0] = "G20"
    assert sim.receive(b"\x18") == GRBL_BANNER + LOCKED.encode() + b"\r\n"  # no startup lines in Alarm
    assert send(sim, "$H") == [">G20:ok", "ok"]  # ... but after homing


def test_settings_are_written_checked_and_reported():
    sim = board()
    assert send(sim, "$22=1", "$20=1", "$130=100", "$11=0.02", "$1=300") == ["ok"] * 5
    settings = dict(line[1:].split("=") for line in send(sim, "$$")[:-1])
    assert (settings["20"], settings["22"], settings["130"], settings["11"]) == ("1", "1", "100.000", "0.020")
    assert settings["1"] == "44"  # a byte: 300 wraps
    assert settings["30"] == "1000" and settings["100"] == "250.000"
    assert send(sim, "$22=0") == ["ok"]  # homing off takes soft limits with it
    assert dict(line[1:].split("=") for line in send(sim, "$$")[:-1])["20"] == "0"


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("$20=1", "error:10"),  # soft limits need homing
        ("$0=2", "error:6"),  # step pulse under 3 us
        ("$1=-5", "error:4"),
        ("$7=1", "error:3"),  # no such setting
        ("$105=1", "error:3"),
        ("$300=1", "error:3"),
        ("$1=", "error:2"),
        ("$1", "error:3"),
        ("$1=2X", "error:3"),
        ("$Q", "error:2"),
        ("$$X", "error:3"),
        ("$RST=Q", "error:3"),
        ("$SL", "error:3"),
        ("$J=G1 X1 F100", "error:16"),
        ("$J=X1", "error:22"),
        ("$JX1", "error:3"),
    ],
)
def test_bad_system_commands_get_grbls_errors(line, answer):
    sim = board()
    assert send(sim, line) == [answer]
    assert send(sim, "$$")[:2] == ["$0=10", "$1=25"]  # nothing was stored


def test_the_work_area_settings_set_the_soft_limits():
    sim = board(HOMING)
    send(sim, "$H", "$130=100")
    assert send(sim, "G0 X100 Y200") == ["ok"]
    assert send(sim, "G0 X101") == ["ALARM:2", "[MSG:Reset to continue]"]


def test_settings_survive_a_reset_and_a_power_cycle_that_keeps_the_eeprom():
    sim = board()
    send(sim, "$22=1", "$N0=G20")
    sim.receive(b"\x18")
    assert "$22=1" in send(sim, "$$")
    again = board(eeprom=sim.eeprom)
    assert again.banner() == GRBL_BANNER + LOCKED.encode() + b"\r\n"
    assert board().eeprom == GrblEeprom.factory(default_profile(), SimSettings())


def test_a_blank_eeprom_is_error_7_and_gets_the_defaults_printed_before_the_banner():
    sim = board(eeprom=GrblEeprom.blank())
    lines = sim.banner().decode().split("\r\n")
    assert lines[0] == "error:7" and lines[1] == "$0=10" and lines[-3:] == ["", "Grbl 1.1h ['$' for help]", ""]
    assert lines[1:-3] == send(sim, "$$")[:-1]
    assert board(eeprom=sim.eeprom).banner() == GRBL_BANNER


def test_restoring_defaults_resets_the_board():
    sim = board()
    send(sim, "$1=100", "$N0=G20", "$I=X")
    assert sim.receive(b"$RST=$\n") == b"[MSG:Restoring defaults]\r\nok\r\n" + GRBL_BANNER + b">G20:ok\r\n"
    assert send(sim, "$$")[1] == "$1=25"
    sim.receive(b"$RST=*\n")
    assert send(sim, "$N", "$I") == ["$N0=", "$N1=", "ok", "[VER:1.1h.20190825:]", "[OPT:V,15,128]", "ok"]


def test_sleep_answers_then_sleeps_until_a_reset_that_leaves_it_in_alarm():
    sim = board()
    send(sim, "M3 S1000")
    assert send(sim, "$SLP") == ["ok", "[MSG:Sleeping]"]
    assert sim.state == "Sleep" and not sim.pen_down
    assert send(sim, "G0 X1") == []  # nothing is read while asleep
    assert status(sim).startswith("<Sleep|MPos:0.000,0.000,0.000|FS:0,0")
    assert sim.receive(b"\x18") == GRBL_BANNER + LOCKED.encode() + b"\r\n"
    assert sim.state == "Alarm"


def test_a_jog_moves_in_its_own_modes_and_leaves_the_parser_alone():
    sim = board()
    send(sim, "G0 X10 Y10")
    assert send(sim, "$J=G91 X5 F1000") == ["ok"]
    assert sim.position[:2] == (15.0, 10.0)
    assert send(sim, "$J=G53 X1 Y2 F500", "$G") == ["ok", "[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]", "ok"]
    assert sim.position[:2] == (1.0, 2.0)
    assert send(sim, "$J=X1 S5 F100") == ["error:36"]


def test_a_jog_beyond_the_soft_limits_is_refused_without_an_alarm():
    sim = board(HOMING)
    send(sim, "$H")
    assert send(sim, "$J=X300 F1000") == ["error:15"]
    assert sim.state == "Idle"


def test_gcode_is_locked_out_while_jogging_and_a_feed_hold_cancels_the_jog():
    clock = FakeClock()
    sim = board(SimSettings(time_scale=1.0), clock=clock)
    assert send(sim, "$J=X100 F600") == ["ok"]
    clock.now = 1.0
    assert status(sim).startswith("<Jog|")
    assert send(sim, "G0 X1") == ["error:9"]
    assert sim.receive(b"!") == b""
    assert sim.state == "Idle" and 0 < sim.position[0] < 100
    assert send(sim, "G0 X1") == ["ok"]


# ---------------------------------------------------------------------------------------- line length


def test_79_characters_after_filtering_are_a_line_and_80_an_overflow():
    sim = board()
    line = "G0X1." + "0" * 74  # 79 characters
    assert send(sim, line, "(comments and spaces do not count) " + line.lower()) == ["ok", "ok"]
    assert send(sim, line + "0") == ["error:11"]
    assert sim.executed_lines == [line, "(comments and spaces do not count) " + line.lower()]


# -------------------------------------------------------------------------------------- status reports


def test_wco_and_overrides_come_on_grbls_idle_schedule_after_a_reset():
    sim = board()
    reports = [status(sim) for _ in range(13)]
    plain = "<Idle|MPos:0.000,0.000,0.000|FS:0,0>"
    assert reports[0] == "<Idle|MPos:0.000,0.000,0.000|FS:0,0|WCO:0.000,0.000,0.000>"
    assert reports[1] == "<Idle|MPos:0.000,0.000,0.000|FS:0,0|Ov:100,100,100>"
    assert reports[2:10] == [plain] * 8
    assert reports[10:12] == reports[0:2]  # every 10th report when idle
    assert reports[12] == plain


def test_a_change_of_offset_or_spindle_is_reported_at_once():
    sim = board()
    status(sim), status(sim), status(sim)
    send(sim, "G92 X-5")
    assert status(sim) == "<Idle|MPos:0.000,0.000,0.000|FS:0,0|WCO:5.000,0.000,0.000>"
    assert status(sim) == "<Idle|MPos:0.000,0.000,0.000|FS:0,0>"  # Ov follows WCO only when it is due
    send(sim, "M4 S20000")
    assert status(sim) == "<Idle|MPos:0.000,0.000,0.000|FS:0,1000|Ov:100,100,100|A:C>"  # S capped at $30
    send(sim, "M3 S0")
    assert status(sim) == "<Idle|MPos:0.000,0.000,0.000|FS:0,0|Ov:100,100,100>"  # S0: the spindle stands


def test_busy_reports_refresh_less_often():
    clock = FakeClock()
    sim = board(SimSettings(time_scale=1.0), clock=clock)
    status(sim), status(sim)
    send(sim, "G1 X200 F600")  # 20 s of motion
    reports = [status(sim) for _ in range(60)]
    assert all(r.startswith("<Run|") for r in reports)
    # The idle counts left from before run out (WCO, then Ov); from then on 30 and 20 reports apart.
    assert [i for i, r in enumerate(reports) if "|WCO:" in r] == [8, 38]
    assert [i for i, r in enumerate(reports) if "|Ov:" in r] == [9, 29, 49]


def test_work_positions_buffer_state_and_inches_follow_the_report_settings():
    sim = board()
    send(sim, "G0 X25.4 Y10", "G92 X0", "$10=2", "$13=1")
    assert status(sim) == "<Idle|WPos:0.0000,0.3937,0.0000|Bf:15,128|FS:0.0,0|WCO:1.0000,0.0000,0.0000>"


def test_a_feed_hold_when_idle_is_a_finished_hold():
    sim = board()
    sim.receive(b"!")
    assert status(sim).startswith("<Hold:0|")
    sim.receive(b"~")
    assert status(sim).startswith("<Idle|")


# ------------------------------------------------------------------------------------ the host parser


@pytest.mark.parametrize(
    "report",
    [
        "<Idle|MPos:1.000,2.000,3.000|FS:0,0|WCO:0.000,0.000,0.000>",
        "<Run|MPos:1.000,2.000,3.000|FS:1500,1000|Ov:100,100,100|A:S>",
        "<Hold:1|MPos:1.000,2.000,3.000|FS:10,0>",
        "<Jog|WPos:1.000,2.000,3.000|Bf:15,128|FS:500,0|WCO:1.000,1.000,1.000>",
        "<Door:2|MPos:1.000,2.000,3.000|Ln:42|F:0|Pn:XYZPDHRS|Ov:120,50,80|A:CFM>",
    ],
)
def test_the_status_parser_reads_every_field_of_a_1_1h_report(report):
    status = parse_status(report)
    assert status.report == report
    assert status.position_mm == (1.0, 2.0, 3.0)
    assert status.feed_mm_min is not None


def test_the_status_parser_keeps_the_values():
    run = parse_status("<Run|MPos:1.000,2.000,3.000|Bf:3,40|Ln:7|FS:1500,1000|Pn:XP|WCO:0.500,0,0|Ov:110,25,90|A:S>")
    assert (run.state, run.running, run.work_position) == ("Run", True, False)
    assert (run.feed_mm_min, run.spindle_rpm, run.buffer, run.line_number) == (1500.0, 1000.0, (3, 40), 7)
    assert (run.pins, run.overrides, run.accessories) == ("XP", (110, 25, 90), "S")
    assert run.machine_mm == (1.0, 2.0, 3.0) and run.work_mm == (0.5, 2.0, 3.0)
    jog = parse_status("<Jog|WPos:1.000,2.000,3.000|F:500>")
    assert jog.work_position and jog.machine_mm is None and jog.spindle_rpm is None and jog.feed_mm_min == 500
    assert parse_status("<Check|MPos:1,2|FS:0,0>").position_mm is None
    assert not parse_status("<Alarm|MPos:0.000,0.000,0.000|FS:0,0>").running
