"""The Marlin 2 device model, driven byte by byte without any I/O."""

from __future__ import annotations

from pathlib import Path

import pytest

from calibration import load_profile
from robot import Faults, MarlinSimulator, SimSettings
from robot.firmware.marlin_protocol import checksum, numbered

MARLIN_SERVO = Path(__file__).resolve().parent.parent / "examples" / "profiles" / "a4_marlin_servo.toml"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def board(faults: Faults = Faults(), time_scale: float = 0.0, clock=None) -> MarlinSimulator:
    settings = SimSettings(time_scale=time_scale)
    if clock is None:
        return MarlinSimulator(load_profile(MARLIN_SERVO), settings, faults)
    return MarlinSimulator(load_profile(MARLIN_SERVO), settings, faults, clock)


def say(sim: MarlinSimulator, *lines: str) -> list[str]:
    data = "".join(line + "\n" for line in lines).encode("ascii")
    return sim.receive(data).decode("ascii").splitlines()


def test_the_banner_starts_with_start():
    assert board().banner().startswith(b"start\n")


def test_the_checksum_is_the_xor_of_the_bytes_before_the_star():
    assert checksum("N1 G0 X10") == 0x4E ^ 0x31 ^ 0x20 ^ 0x47 ^ 0x30 ^ 0x20 ^ 0x58 ^ 0x31 ^ 0x30
    assert numbered(7, "M108") == f"N7 M108*{checksum('N7 M108')}"


def test_numbered_lines_in_order_are_executed_and_answered_ok():
    sim = board()
    assert say(sim, "M110 N0", numbered(1, "G0 X10 Y10"), numbered(2, "M280 P0 S20"),
               numbered(3, "G1 X20 Y10 F3000"), numbered(4, "M280 P0 S50")) == ["ok"] * 5
    assert sim.strokes == [[(10.0, 10.0), (20.0, 10.0)]]
    assert sim.last_line_number == 4


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("N2 G0 X5*0", "Error:checksum mismatch, Last Line: 1"),
        (numbered(3, "G0 X5"), "Error:Line Number is not Last Line Number+1, Last Line: 1"),
        ("N2 G0 X5", "Error:No Checksum with line number, Last Line: 1"),
        ("G0 X5*23", "Error:No Line Number with checksum, Last Line: 1"),
    ],
)
def test_a_line_that_came_wrong_is_refused_with_a_resend_request_and_not_executed(line, error):
    sim = board()
    say(sim, "M110 N0", numbered(1, "G0 X1"))
    assert say(sim, line) == [error, "Resend: 2", "ok"]
    assert sim.position[0] == 1.0 and sim.line_errors == 1
    assert say(sim, numbered(2, "G0 X5")) == ["ok"]  # the same line again, right this time
    assert sim.position[0] == 5.0


def test_m110_sets_the_line_number_and_unnumbered_lines_need_none():
    sim = board()
    say(sim, "M110 N0", numbered(1, "G0 X1"), numbered(2, "G0 X2"))
    assert say(sim, "M110 N0", "G0 X3", numbered(1, "G0 X4")) == ["ok", "ok", "ok"]
    assert sim.position[0] == 4.0


def test_an_unknown_command_is_echoed_and_answered_ok_without_doing_anything():
    sim = board()
    assert say(sim, numbered(1, "G99 X5")) == ['echo:Unknown command: "G99 X5"', "ok"]
    assert sim.position[0] == 0.0 and sim.executed_lines == []


def test_semicolon_comments_are_dropped_and_empty_lines_get_no_answer():
    sim = board()
    assert say(sim, "", "; just a comment", "G0 X7 ; travel") == ["ok"]
    assert sim.position[0] == 7.0


def test_m0_is_answered_once_m108_lets_it_go_on():
    sim = board()
    assert say(sim, numbered(1, "M0 change to pen red"), numbered(2, "G0 X3")) == ["busy: paused for user"]
    assert sim.state == "Hold"
    assert say(sim, "M108") == ["ok", "ok", "ok"]  # M0, then G0 X3 (waiting behind it), then M108 itself
    assert sim.position[0] == 3.0 and sim.stroke_sections == []


def test_busy_keepalives_come_every_two_machine_seconds_while_a_command_waits():
    clock = FakeClock()
    sim = board(time_scale=1.0, clock=clock)
    # 60 mm at 10 mm/s: 6 s of motion; the servo move waits for it, and Marlin says it is busy meanwhile.
    assert say(sim, "G1 X60 F600", "M280 P0 S20") == ["ok"]
    answers = []
    for t in (1.0, 2.0, 3.0, 4.5, 5.0):
        clock.now = t
        answers += sim.poll().decode().splitlines()
    assert answers == ["busy: processing", "busy: processing"]
    clock.now = 7.0
    assert sim.poll().decode().splitlines() == ["ok"]


def test_m410_drops_the_queued_moves_at_once_and_m114_reports_where_it_stopped():
    clock = FakeClock()
    sim = board(time_scale=1.0, clock=clock)
    say(sim, "G1 X60 F600", "G1 X0")
    clock.now = 1.0
    answers = say(sim, "M410")
    assert answers == ["ok"]
    assert sim.state == "Idle"
    x = sim.position[0]
    assert 0.0 < x < 60.0
    assert say(sim, "M114")[0] == f"X:{x:.2f} Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0"


def test_an_error_on_line_k_is_an_unknown_command_and_a_disconnect_says_nothing_more():
    sim = board(Faults(error_on_line=2, disconnect_after_lines=3))
    assert say(sim, "G0 X1", "G0 X2", "G0 X3", "G0 X4") == ["ok", 'echo:Unknown command: "G0 X2"', "ok", "ok"]
    assert sim.hung_up and sim.position[0] == 3.0


def test_a_corrupted_byte_is_a_checksum_mismatch():
    line = numbered(1, "G0 X10")
    sim = board(Faults(corrupt_offsets=frozenset({len("M110 N0\n") + 5}), seed=1))
    answers = say(sim, "M110 N0", line)
    assert answers[0] == "ok" and answers[1].startswith("Error:") and answers[2:] == ["Resend: 1", "ok"]
    assert say(sim, line) == ["ok"]
