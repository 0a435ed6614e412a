"""Time on the simulated devices: bytes take the time of the baud rate, and a stream takes its motion time.

Only lower bounds are asserted on wall-clock time: a busy machine may always be slower.
"""

from __future__ import annotations

import time

import pytest
import serial

from calibration import default_profile
from gcode.stats import compute_stats
from robot import GrblSimulator, GrblStreamer, PtyPlotter, SimSettings, clean_line
from robot.sim_link import SerialLine, byte_seconds
from robot.sim_url import SIMULATORS

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
    assert settings.endswith(b"$132=10.000\r\nok\r\n")
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
    board = SIMULATORS["timed"]
    assert report.ok and asked == ["change to pen red"]
    assert report.seconds >= compute_stats(lines, default_profile()).est_seconds * SCALE
    assert board.stroke_sections == [0, 0, 1, 1]
    assert board.rx_overflow_bytes == 0
