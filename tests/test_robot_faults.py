"""Injected faults: line noise, an error on line K, slow answers and a board that hangs up.

First on the simulator alone (deterministic, with a hand-set clock), then through a real pseudo-terminal
and pyserial, the way a host meets them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import serial

from calibration import default_profile
from robot import Faults, GrblSimulator, GrblStreamer, PtyPlotter, StreamError
from robot.boards.faults import LineNoise
from robot.boards.sim_url import NAMED_SIMULATORS

TIMEOUT_S = 5.0  # generous: only ever waited out when something is wrong


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def board(faults: Faults, clock=time.monotonic) -> GrblSimulator:
    return GrblSimulator(default_profile(), faults=faults, clock=clock)


def answers_of(data: bytes) -> list[str]:
    return data.decode("ascii", "replace").split("\r\n")[:-1]


def clean_answer(data: bytes) -> list[str]:
    """What a board without faults answers to ``data``."""
    return answers_of(GrblSimulator(default_profile()).receive(data))


# ------------------------------------------------------------------------------------------ the model


def test_line_noise_depends_only_on_the_seed_and_the_byte_offset():
    faults = Faults(drop_rate=0.05, corrupt_rate=0.05, seed=7)
    data = b"G1 X10.000 Y20.000 F3000\n" * 40
    whole = LineNoise(faults).apply(data)
    pieces = LineNoise(faults)
    split = b"".join(pieces.apply(data[i : i + 13]) for i in range(0, len(data), 13))
    assert split == whole != data
    assert pieces.dropped > 0 and pieces.corrupted > 0
    assert LineNoise(Faults(drop_rate=0.05, corrupt_rate=0.05, seed=8)).apply(data) != whole


def test_a_dropped_byte_garbles_its_line_and_grbl_rejects_it():
    sim = board(Faults(drop_offsets=frozenset({2})))
    assert answers_of(sim.receive(b"G0X12\nG0X3\n")) == ["error:20", "ok"]  # "G012": there is no G12
    assert sim.executed_lines == ["G0X3"]
    assert sim.noise.dropped == 1


def test_a_dropped_line_ending_merges_two_lines_into_one_answer():
    sim = board(Faults(drop_offsets=frozenset({4})))
    answers = answers_of(sim.receive(b"G0X1\nG0X2\nG0X9\n"))
    assert len(answers) == 2  # three lines sent, two answered: a host counting answers is now out of step
    assert answers[0].startswith("error:") and answers[1] == "ok"
    assert sim.position[0] == 9.0


def test_a_corrupted_byte_arrives_with_one_bit_flipped_and_is_answered_as_read():
    faults = Faults(corrupt_offsets=frozenset({1}), seed=3)
    sent = b"G4P0.1\n"
    garbled = LineNoise(faults).apply(sent)
    assert bin(garbled[1] ^ sent[1]).count("1") == 1 and garbled[:1] + garbled[2:] == sent[:1] + sent[2:]
    answers = answers_of(board(faults).receive(sent))
    assert answers == clean_answer(garbled)
    assert answers[0].startswith("error:")  # every single-bit flip of that '4' makes the line invalid


@pytest.mark.parametrize(("code", "expected"), [(None, "error:20"), (33, "error:33")])
def test_error_on_line_answers_exactly_that_line_with_an_error(code, expected):
    faults = Faults(error_on_line=3) if code is None else Faults(error_on_line=3, error_code=code)
    sim = board(faults)
    # Empty and comment-only lines are not counted: line 3 is "G0 X3".
    answers = answers_of(sim.receive(b"G0 X1\n\n(note)\nG0 X2\nG0 X3\nG0 X4\n"))
    assert answers == ["ok", "ok", "ok", "ok", expected, "ok"]
    assert sim.executed_lines == ["G0 X1", "G0 X2", "G0 X4"]
    assert [e.number for e in sim.execution_log] == [1, 2, 4]


def test_disconnect_after_n_lines_answers_n_lines_then_says_nothing_more():
    sim = board(Faults(disconnect_after_lines=2))
    assert sim.receive(b"G0X1\nG0X2\nG0X3\n") == b"ok\r\nok\r\n"
    assert sim.hung_up
    assert sim.receive(b"?") == b"" and sim.poll() == b""
    assert sim.executed_lines == ["G0X1", "G0X2"]


def test_slow_acknowledgements_arrive_late_but_status_reports_do_not():
    clock = FakeClock()
    sim = board(Faults(ack_delay_s=0.5), clock)
    assert sim.receive(b"G0X1\n") == b""
    assert sim.receive(b"?").startswith(b"<Idle|MPos:1.000,")  # executed at once, only the answer is late
    assert sim.due_in_s() == 0.5
    clock.now = 0.49
    assert sim.poll() == b""
    clock.now = 0.5
    assert sim.poll() == b"ok\r\n"


def test_a_late_answer_can_be_the_last_one_before_a_hang_up():
    clock = FakeClock()
    sim = board(Faults(ack_delay_s=0.5, disconnect_after_lines=1), clock)
    assert sim.receive(b"G0X1\n") == b""
    assert not sim.hung_up
    clock.now = 0.5
    assert sim.poll() == b"ok\r\n"
    assert sim.hung_up


# ------------------------------------------------------------------------------- through a real pty


@contextmanager
def pty_board(faults: Faults) -> Iterator[tuple[GrblSimulator, serial.Serial]]:
    """A faulty board on a pseudo-terminal and the host's end of it, opened with pyserial."""
    sim = GrblSimulator(default_profile(), faults=faults)
    with PtyPlotter(sim) as device, serial.Serial(device.port, timeout=0.05) as port:
        yield sim, port


def read_answers(port: serial.Serial, count: int) -> list[str]:
    """The next ``count`` answers to lines (ok / error:N), skipping banners and messages."""
    found: list[str] = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(found) < count and time.monotonic() < deadline:
        line = port.readline().decode("ascii", "replace").strip()
        if line == "ok" or line.startswith("error:"):
            found.append(line)
    return found


def test_pty_dropped_bytes_cost_the_host_an_answer():
    with pty_board(Faults(drop_offsets=frozenset({4}))) as (sim, port):
        port.write(b"G0X1\nG0X2\nG0X9\n")
        answers = read_answers(port, 2)
        assert len(answers) == 2 and answers[0].startswith("error:") and answers[1] == "ok"
        port.write(b"G0X5\n")
        assert read_answers(port, 1) == ["ok"]  # the fourth line gets the third answer


def test_pty_a_corrupted_byte_is_answered_with_an_error():
    faults = Faults(corrupt_offsets=frozenset({1}), seed=3)
    expected = clean_answer(LineNoise(faults).apply(b"G4P0.1\n"))
    with pty_board(faults) as (sim, port):
        port.write(b"G4P0.1\n")
        assert read_answers(port, 1) == expected
    assert expected[0].startswith("error:")


def test_pty_error_on_line_k_is_reported_by_the_streamer_on_line_k():
    lines = ["G21", "G90", "G0 X10 Y10", "M3 S1000", "G1 X20 F1000", "G1 Y20", "G1 X10", "G1 Y10", "M5"]
    sim = GrblSimulator(default_profile(), faults=Faults(error_on_line=6))
    with PtyPlotter(sim) as device, GrblStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert [(e["line_no"], e["code"]) for e in report.errors] == [(6, 20)]
    assert "G1 Y20" not in sim.executed_lines


def test_pty_disconnect_after_n_lines_is_a_hang_up_after_the_nth_answer():
    with pty_board(Faults(disconnect_after_lines=2)) as (sim, port):
        port.write(b"G0X1\nG0X2\nG0X3\n")
        assert read_answers(port, 2) == ["ok", "ok"]
        with pytest.raises(serial.SerialException):
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline:
                port.readline()
    assert sim.executed_lines == ["G0X1", "G0X2"]


def test_pty_slow_acknowledgements_arrive_no_sooner_than_the_delay():
    with pty_board(Faults(ack_delay_s=0.3)) as (sim, port):
        started = time.monotonic()
        port.write(b"G0X1\n")
        assert read_answers(port, 1) == ["ok"]
        assert time.monotonic() - started >= 0.3


def test_pty_slow_answers_are_waited_for_within_the_timeout():
    lines = ["G21", "G90", "G0 X10 Y10", "G0 X20 Y10", "G0 X30 Y10"]
    sim = GrblSimulator(default_profile(), faults=Faults(ack_delay_s=0.2))
    with PtyPlotter(sim) as device, GrblStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok and report.seconds >= 0.2


def test_pty_answers_slower_than_the_timeout_from_a_board_that_stands_still_are_a_clear_error():
    sim = GrblSimulator(default_profile(), faults=Faults(ack_delay_s=1.0))
    with PtyPlotter(sim) as device, GrblStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
        streamer.timeout_s = 0.3  # connected (the answer to its empty line came late too); now be impatient
        with pytest.raises(StreamError) as info:
            streamer.stream(["G21", "G0 X10 Y10"], progress=False)
    message = str(info.value)
    assert message.startswith(f"GRBL on {device.port} stopped answering: nothing for 0.3 s after line 0")
    assert "status: <Idle|MPos:10.000,10.000,0.000|FS:0,0" in message  # it did the work; the answer is late


# ------------------------------------------------------------------------------------- through sim://


def test_url_disconnect_mid_stream_is_a_lost_connection_for_the_streamer():
    lines = [f"G0 X{i}" for i in range(1, 30)]
    with GrblStreamer("sim://?disconnect_after_lines=10", timeout_s=TIMEOUT_S) as streamer:
        with pytest.raises(StreamError, match="lost the connection to sim://"):
            streamer.stream(lines, progress=False)


def test_url_faults_reach_the_board():
    with serial.serial_for_url("sim://?error_on_line=2&error_code=33&drop_offsets=100", timeout=0.05) as port:
        port.write(b"G0X1\nG0X2\nG0X3\n")
        assert read_answers(port, 3) == ["ok", "error:33", "ok"]
        assert port.simulator.faults == Faults(error_on_line=2, error_code=33, drop_offsets=frozenset({100}))


def test_url_disconnect_is_a_serial_exception_on_read_and_write():
    with serial.serial_for_url("sim://?disconnect_after_lines=1", timeout=0.05) as port:
        port.write(b"G0X1\nG0X2\n")
        assert read_answers(port, 1) == ["ok"]
        with pytest.raises(serial.SerialException, match="hung up"):
            port.read(1)
        with pytest.raises(serial.SerialException, match="hung up"):
            port.write(b"?")


def test_a_board_that_freezes_mid_stream_is_given_up_on_after_the_timeout_with_its_silence_said():
    lines = [f"G0 X{i}" for i in range(1, 30)]
    with GrblStreamer("sim://?silent_after_lines=10&name=frozen", timeout_s=0.3) as streamer:
        with pytest.raises(StreamError, match="stopped answering.*no answer to '.' either"):
            streamer.stream(lines, progress=False)
    board = NAMED_SIMULATORS.pop("frozen")
    assert board.frozen and not board.hung_up and len(board.executed_lines) == 10


def test_garbage_from_the_board_is_not_taken_for_an_answer():
    lines = [f"G0 X{i}" for i in range(1, 30)]
    with GrblStreamer("sim://?garbage_after_lines=5&seed=3", timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok and report.lines_acknowledged == 29


def test_a_hard_limit_alarm_stops_the_stream_and_the_streamer_resets_unlocks_and_lifts_the_pen():
    lines = ["G21", "M3 S1000"] + [f"G1 X{i} F3000" for i in range(1, 30)]
    with GrblStreamer("sim://?alarm_on_line=12&name=limit", timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    board = NAMED_SIMULATORS.pop("limit")
    assert report.alarm.startswith("ALARM:1 at line 12") and "Hard limit" in report.alarm
    assert board.executed_lines[:11] == [line.replace(" ", "") for line in lines[:11]]
    assert board.state == "Idle" and not board.pen_down and board.executed_lines[-1] == "M5"
