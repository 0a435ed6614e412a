"""Time on the simulated devices: bytes take the time of the baud rate, and a stream takes its motion time.

With an injected clock, a board whose planner the host keeps full takes exactly the estimate of
``gcode.stats`` (the same 15-block look-ahead); a host that falls behind makes it slower. Only lower
bounds are asserted on wall-clock time: a busy machine may always be slower.
"""

from __future__ import annotations

import math
import time

import pytest
import serial

from calibration import default_profile
from gcode.stats import compute_stats
from robot import GrblSimulator, GrblStreamer, PtyPlotter, SimSettings, clean_line
from robot.boards.sim_link import SerialLine, byte_seconds
from robot.boards.sim_url import NAMED_SIMULATORS

TIMEOUT_S = 10.0
COMMENT_LINE = b";" + b"x" * 48 + b"\n"  # 50 bytes that GRBL answers with a bare ok


def count_oks(port: serial.Serial, count: int) -> None:
    seen, deadline = 0, time.monotonic() + TIMEOUT_S
    while seen < count and time.monotonic() < deadline:
        if port.readline().strip() == b"ok":
            seen += 1
    assert seen == count


def test_a_byte_takes_ten_bits_of_time_scaled_like_the_motion():
    assert byte_seconds(115200, 1.0) == pytest.approx(1 / 11520)
    assert byte_seconds(115200, 0.01) == pytest.approx(1 / 1152000)
    assert byte_seconds(9600, 0.0) == 0.0  # time_scale 0: no limit


def test_a_serial_line_delivers_one_byte_per_byte_time_and_does_not_bank_idle_time():
    line = SerialLine(byte_s=0.1)
    line.send(b"0123456789", now=0.0)
    assert line.deliver(0.35) == b"012"
    assert line.due_in_s(0.35) == pytest.approx(0.05)
    assert line.deliver(5.0) == b"3456789"
    line.send(b"ab", now=10.0)  # idle since 1.0: the next byte still takes its full time
    assert line.deliver(10.05) == b""
    assert line.deliver(10.2) == b"ab"
    assert line.due_in_s(10.2) is None


def test_pty_bytes_to_the_board_move_at_the_baud_rate():
    baud, lines = 38400, 40
    with PtyPlotter(GrblSimulator(default_profile(), SimSettings(time_scale=1.0)), baud=baud) as device:
        with serial.Serial(device.port, timeout=0.05) as port:
            started = time.monotonic()
            port.write(COMMENT_LINE * lines)
            count_oks(port, lines)
            elapsed = time.monotonic() - started
    assert elapsed >= lines * len(COMMENT_LINE) * 10 / baud  # 2000 bytes at 3840 bytes/s: 0.52 s


def test_pty_bytes_to_the_host_move_at_the_baud_rate():
    baud = 9600
    with PtyPlotter(GrblSimulator(default_profile(), SimSettings(time_scale=1.0)), baud=baud) as device:
        with serial.Serial(device.port, timeout=0.05) as port:
            started = time.monotonic()
            port.write(b"$$\n")
            answer = b""
            deadline = time.monotonic() + TIMEOUT_S
            while not answer.endswith(b"ok\r\n") and time.monotonic() < deadline:
                answer += port.read(1000)
            elapsed = time.monotonic() - started
    settings = answer[answer.index(b"$0=") :]  # a power-up banner may come first
    assert settings.endswith(b"\r\nok\r\n") and b"\r\n$132=" in settings  # the last setting, then ok
    assert elapsed >= len(settings) * 10 / baud  # about 450 bytes at 960 bytes/s


def test_url_bytes_move_at_the_baud_rate_the_port_is_opened_with():
    baud, lines = 38400, 40
    with serial.serial_for_url("sim://?time_scale=1", baudrate=baud, timeout=0.05) as port:
        started = time.monotonic()
        port.write(COMMENT_LINE * lines)
        count_oks(port, lines)
        elapsed = time.monotonic() - started
    assert elapsed >= lines * len(COMMENT_LINE) * 10 / baud


def program(strokes: int) -> list[str]:
    lines = ["G21", "G90", "M5", "G4 P0.150"]
    for i in range(strokes):
        x = 10.0 + 3.5 * i
        lines += [f"G0 X{x:.3f} Y20.000", "M3 S1000", "G4 P0.150"]
        lines += [f"G1 X{x:.3f} Y{30 + 2 * k:.3f} F3000.000" for k in range(20)]  # short moves fill the planner
        lines += ["M5", "G4 P0.150"]
    return lines + ["G0 X0.000 Y0.000", "M2"]


SCALE = 0.01


def test_a_stream_to_a_timed_pty_takes_at_least_the_scaled_motion_time():
    lines = program(3)
    board = GrblSimulator(default_profile(), SimSettings(time_scale=SCALE))
    with PtyPlotter(board) as device, GrblStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok
    assert report.seconds >= compute_stats(lines, default_profile()).est_seconds * SCALE
    assert board.executed_lines == [clean_line(line) for line in lines]
    assert board.rx_overflow_bytes == 0
    assert [len(stroke) for stroke in board.strokes] == [21, 21, 21]
    assert board.state == "Idle"


def test_a_stream_to_a_timed_sim_url_takes_at_least_the_scaled_motion_time_and_pauses_for_pens():
    lines = program(2) + ["M0 (change to pen red)"] + program(2)
    asked: list[str] = []
    with GrblStreamer(f"sim://?time_scale={SCALE}&name=timed", timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False, on_pause=asked.append)
    board = NAMED_SIMULATORS["timed"]
    assert report.ok and asked == ["change to pen red"]
    assert report.seconds >= compute_stats(lines, default_profile()).est_seconds * SCALE
    assert board.stroke_sections == [0, 0, 1, 1]
    assert board.rx_overflow_bytes == 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_keeping_the_planner_full(lines: list[str], planner_blocks: int = 15) -> float:
    """Machine seconds of a run on a real-time board where each line is sent the moment the last is answered."""
    clock = FakeClock()
    board = GrblSimulator(default_profile(), SimSettings(time_scale=1.0, planner_blocks=planner_blocks), clock=clock)
    for line in lines:
        answer = board.receive(line.encode() + b"\n")
        while not answer.endswith(b"ok\r\n"):  # only a full planner (or a stop) holds an answer back
            clock.now += board.due_in_s()
            answer += board.poll()
    while board.due_in_s() is not None:
        clock.now += board.due_in_s()
        board.poll()
    assert board.state == "Idle"
    return clock.now


def short_moves(feed_mm_min: float, turn_deg: float) -> list[str]:
    """A pen-down zigzag of 300 moves of 0.3 mm, turning ``turn_deg`` left and right in turn."""
    lines = ["G21", "G90", "G0 X20 Y20", "M3 S1000", "G4 P0.15", f"F{feed_mm_min}"]
    x, y, half = 20.0, 20.0, math.radians(turn_deg) / 2
    for k in range(300):
        heading = half if k % 2 == 0 else -half
        x, y = x + 0.3 * math.cos(heading), y + 0.3 * math.sin(heading)
        lines.append(f"G1 X{x:.4f} Y{y:.4f}")
    return lines + ["M5", "G0 X0 Y0"]


@pytest.mark.parametrize(("feed_mm_min", "turn_deg"), [(6000, 4), (3000, 150)])
def test_with_the_planner_kept_full_a_run_lasts_exactly_the_estimate(feed_mm_min, turn_deg):
    lines = short_moves(feed_mm_min, turn_deg)
    estimate = compute_stats(lines, default_profile()).est_seconds
    assert run_keeping_the_planner_full(lines) == pytest.approx(estimate, abs=1e-9)


def test_short_fast_moves_are_held_back_by_the_look_ahead_and_a_longer_planner_runs_them_faster():
    lines = short_moves(6000, 4)  # 64.8 mm/s where 100 were asked: 15 blocks of 0.3 mm cannot brake from more
    fifteen = run_keeping_the_planner_full(lines)
    unlimited = compute_stats(lines, default_profile(), planner_blocks=len(lines)).est_seconds
    assert fifteen > unlimited * 1.05  # the 90 mm drawn at ~66 mm/s instead of ~100
    assert run_keeping_the_planner_full(lines, planner_blocks=len(lines)) == pytest.approx(unlimited, abs=1e-9)


def test_a_host_that_falls_behind_the_machine_makes_the_run_slower_than_the_estimate():
    lines = short_moves(6000, 4)
    clock = FakeClock()
    board = GrblSimulator(default_profile(), SimSettings(time_scale=1.0), clock=clock)
    for line in lines:  # one line every 5 ms, while a 0.3 mm move takes about 4.6 ms
        answer = board.receive(line.encode() + b"\n")
        clock.now += 0.005
        answer += board.poll()
        while not answer.endswith(b"ok\r\n"):
            clock.now += board.due_in_s()
            answer += board.poll()
    while board.due_in_s() is not None:
        clock.now += board.due_in_s()
        board.poll()
    assert clock.now > compute_stats(lines, default_profile()).est_seconds * 1.02
