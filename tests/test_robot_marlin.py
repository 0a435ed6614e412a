"""The Marlin streamer against the simulated Marlin board, always through a real pseudo-terminal and pyserial."""

from __future__ import annotations

from pathlib import Path

import pytest

from calibration import default_profile, load_profile
from gcode.dialects import dialect_for
from robot import (
    PROTOCOLS,
    Faults,
    MarlinSimulator,
    MarlinStreamer,
    PtyPlotter,
    SimSettings,
    StreamError,
    StreamInterrupted,
    default_protocol,
    open_streamer,
)
from robot.firmware.marlin_protocol import command_of

TIMEOUT_S = 5.0  # generous: only ever waited out when something is wrong
PROFILE = load_profile(Path(__file__).resolve().parent.parent / "examples" / "profiles" / "a4_marlin_servo.toml")
PEN_UP = dialect_for(PROFILE).pen_up
HANDSHAKE = b"M110 N0\nM114\n"  # what the streamer says before the program: numbering, then a sync point


def program(strokes: int) -> list[str]:
    """A program in the Marlin servo profile's dialect, laid out as the emitter lays it out."""
    dialect = dialect_for(PROFILE)
    lines = ["; strokebot: test", "G21", "G90", *dialect.pen_up]
    for i in range(strokes):
        x = 10.0 + 3.5 * i
        lines += [f"G0 X{x:.3f} Y20.000", *dialect.pen_down]
        lines += [f"G1 X{x:.3f} Y60.000 F3000.000", f"G1 X{x + 1.25:.3f} Y61.500", *dialect.pen_up]
    return lines + ["G0 X0.000 Y0.000", "M400"]


def board(faults: Faults = Faults(), time_scale: float = 0.0) -> MarlinSimulator:
    return MarlinSimulator(PROFILE, SimSettings(time_scale=time_scale), faults)


def executed_commands(sim: MarlinSimulator) -> list[str]:
    return [command_of(line) for line in sim.executed_lines]


def executed_program(sim: MarlinSimulator) -> list[str]:
    """The numbered lines the board executed (the program's), without numbers and checksums."""
    return [command_of(line) for line in sim.executed_lines if line.startswith("N")]


def program_commands(lines: list[str]) -> list[str]:
    return [line.split(";")[0].strip() for line in lines if line.split(";")[0].strip()]


def test_a_program_is_streamed_as_numbered_lines_and_executed_once_each():
    sim = board()
    lines = program(6)
    with PtyPlotter(sim) as device, MarlinStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok and report.lines_acknowledged == report.lines_sent == len(lines) - 1
    assert report.lines_skipped == 1  # the comment line is not sent
    assert executed_commands(sim)[-len(lines) :] == ["M114", *program_commands(lines)]  # a sync point, the program
    numbered_lines = sim.executed_lines[-len(lines) + 1 :]
    assert all(line.startswith(f"N{n} ") for n, line in enumerate(numbered_lines, start=1))
    assert len(sim.strokes) == 6 and sim.strokes[0] == [(10.0, 20.0), (10.0, 60.0), (11.25, 61.5)]


def test_a_corrupted_line_is_refused_by_checksum_and_sent_again():
    # Offsets count from the first byte the board receives: the numbered lines start after the handshake.
    faults = Faults(corrupt_offsets=frozenset(len(HANDSHAKE) + k for k in (4, 52, 53, 190)), seed=4)
    sim = board(faults)
    lines = program(4)
    with PtyPlotter(sim) as device, MarlinStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok
    assert sim.noise.corrupted == 4 and sim.line_errors >= 3 and report.resends >= 3
    assert executed_program(sim) == program_commands(lines)  # each exactly once


def test_random_line_noise_costs_resends_but_every_line_runs_exactly_once():
    # About one byte in 200 is hit; a lost line ending costs a silence of timeout_s before the line goes again.
    faults = Faults(corrupt_rate=0.004, drop_rate=0.001, seed=32)
    sim = board(faults)
    lines = program(12)
    with PtyPlotter(sim) as device, MarlinStreamer(device.port, timeout_s=2.0) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok
    assert sim.noise.corrupted + sim.noise.dropped > 0 and report.resends > 0
    assert executed_program(sim) == program_commands(lines)
    clean = board()
    with PtyPlotter(clean) as device, MarlinStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
        streamer.stream(lines, progress=False)
    assert sim.strokes == clean.strokes


def test_an_unknown_command_stops_the_stream_reports_the_line_and_lifts_the_pen():
    lines = program(1)[:8] + ["G99 X1", "G1 X30 Y30"]
    sim = board()
    with PtyPlotter(sim) as device, MarlinStreamer(device.port, timeout_s=TIMEOUT_S, pen_up=PEN_UP) as streamer:
        report = streamer.stream(lines, progress=False)
    assert not report.ok
    assert report.errors == [
        {"line_no": 9, "line": "G99 X1", "code": "unknown command", "meaning": 'Unknown command: "G99 X1"'}
    ]
    assert report.lines_sent == 8  # nothing after the failed line went out
    assert executed_commands(sim)[-2:] == list(PEN_UP) == ["M280 P0 S50.000", "G4 P200"]  # the profile's pen up
    assert not sim.pen_down


def test_a_pen_change_waits_for_the_operator_then_m108_lets_marlin_go_on():
    lines = program(1) + ["M0 change to pen red"] + program(1)
    sim = board()
    seen: list[tuple[str, str]] = []

    def on_pause(message: str) -> None:
        with device.lock:
            seen.append((message, sim.state))

    with PtyPlotter(sim) as device, MarlinStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False, on_pause=on_pause)
    assert report.ok and report.lines_acknowledged + report.lines_skipped == len(lines)
    assert seen == [("change to pen red", "Hold")]
    assert "M108" in executed_commands(sim)
    assert sim.stroke_sections == [0, 1]


def test_a_disconnect_mid_stream_is_a_stream_error():
    sim = board(Faults(disconnect_after_lines=10))
    with PtyPlotter(sim) as device, MarlinStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
        with pytest.raises(StreamError, match="lost the connection to") as info:
            streamer.stream(program(4), progress=False)
    report = info.value.report
    answered = executed_program(sim)  # the board hung up after its 10th line: the handshake's and the program's
    assert 7 <= len(answered) <= 8 and answered == program_commands(program(4))[: len(answered)]
    assert report.lines_skipped == 1  # the comment line, which needs no sending
    assert report.lines_acknowledged == len(answered) <= report.lines_sent


def test_ctrl_c_quick_stops_reads_the_position_and_lifts_the_pen():
    sim = board(time_scale=0.05)

    class Interrupted(MarlinStreamer):
        def on_send(self, line: str, buffered_bytes: int) -> None:
            if line == "G1 X13.500 Y60.000 F3000.000":
                raise KeyboardInterrupt

    with PtyPlotter(sim) as device, Interrupted(device.port, timeout_s=TIMEOUT_S, pen_up=PEN_UP) as streamer:
        with pytest.raises(StreamInterrupted) as info:
            streamer.stream(program(3), progress=False)
    report = info.value.report
    assert report.interrupted and report.stopped_at_mm is not None
    assert report.stopped_at_mm[:2] == pytest.approx(sim.position[:2], abs=0.01)
    assert executed_commands(sim)[-5:] == ["M108", "M410", "M114", *PEN_UP]
    assert not sim.pen_down


def test_a_line_too_long_for_marlin_is_refused_before_anything_is_sent():
    sim = board()
    with PtyPlotter(sim) as device, MarlinStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
        with pytest.raises(StreamError, match=r"^line 2 is \d+ bytes long .* nothing was sent$"):
            streamer.stream(["G0 X1", "M117 " + "x" * 90], progress=False)
    assert executed_program(sim) == []


def test_a_marlin_profile_streams_with_the_marlin_protocol_unless_told_otherwise():
    assert default_protocol(PROFILE) == "marlin"
    assert default_protocol(default_profile()) == "grbl-counting"
    assert PROTOCOLS == ("grbl-counting", "grbl-send-response", "marlin")
    with pytest.raises(ValueError, match="unknown protocol 'xmodem'"):
        open_streamer("xmodem", "sim://", 115200, TIMEOUT_S, PEN_UP)
