"""The streamer against the simulated plotter, always through a real pseudo-terminal and pyserial."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from calibration import default_profile, load_profile, parse_profile, profile_to_toml
from gcode.dialects import dialect_for
from gcode.stats import elapsed_seconds
from robot import (
    GRBL_ALARMS,
    GRBL_ERRORS,
    GrblSimulator,
    GrblStreamer,
    MarlinStreamer,
    PtyPlotter,
    SimSettings,
    StreamError,
    StreamInterrupted,
    clean_line,
    is_program_pause,
    render_strokes,
)

TIMEOUT_S = 2.0


def program(strokes: int) -> list[str]:
    """A grbl-servo program in the emitter's format: 4 header lines, 8 lines per stroke, 2 footer lines."""
    lines = ["G21", "G90", "M5", "G4 P0.150"]
    for i in range(strokes):
        x = 10.0 + 3.5 * i
        lines += [
            f"G0 X{x:.3f} Y20.000",
            "M3 S1000",
            "G4 P0.150",
            f"G1 X{x:.3f} Y120.000 F3000.000",
            f"G1 X{x + 1.25:.3f} Y121.500",
            "M5",
            "G4 P0.150",
            f"(stroke {i} done)",
        ]
    return lines + ["G0 X0.000 Y0.000", "M2"]


def wait_until(predicate, seconds: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds; the device answers on its own thread."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


class SlowBoard(GrblSimulator):
    """A board busy drawing: it takes ``lines_per_tick`` lines from its receive buffer every ``tick_s``."""

    lines_per_tick = 3
    tick_s = 0.004

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.allowed = 0
        self.last_tick = 0.0

    def busy(self) -> bool:
        return super().busy() or len(self.executed_lines) >= self.allowed

    def poll(self) -> bytes:
        now = time.monotonic()
        if now - self.last_tick >= self.tick_s:
            self.last_tick = now
            self.allowed = len(self.executed_lines) + self.lines_per_tick
        return super().poll()


@pytest.fixture
def plotter():
    with PtyPlotter(GrblSimulator(default_profile())) as device:
        yield device


def test_a_200_line_program_is_streamed_and_executed_line_for_line(plotter):
    lines = program(24)
    lines[-2:-2] = ["G0 X5.000 Y5.000", "G4 P0.100"]
    assert len(lines) == 200
    with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok
    comments = sum(1 for line in lines if line.startswith("("))
    assert report.lines_sent == report.lines_acknowledged == 200 - comments  # comment-only lines are not sent
    assert report.lines_skipped == comments and report.lines_total == 200
    assert report.errors == [] and report.alarm is None
    sent = [clean_line(line) for line in lines if clean_line(line)]
    with plotter.lock:
        assert plotter.simulator.executed_lines == sent
    strokes = plotter.snapshot_strokes()
    assert len(strokes) == 24
    assert strokes[0] == [(10.0, 20.0), (10.0, 120.0), (11.25, 121.5)]
    assert report.to_dict()["lines_acknowledged"] == 200 - comments


def test_character_counting_keeps_the_receive_buffer_full_but_never_overflowing():
    board = SlowBoard(default_profile())
    buffered: list[int] = []

    class Recording(GrblStreamer):
        def on_send(self, line: str, buffered_bytes: int) -> None:
            buffered.append(buffered_bytes)

    lines = program(25)
    with PtyPlotter(board) as device, Recording(device.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok
    # Measured on the device side, independently of the streamer's own bookkeeping:
    assert board.rx_overflow_bytes == 0
    assert board.rx_peak_bytes <= 127
    longest = max(len(clean_line(line)) + 1 for line in lines)
    assert board.rx_peak_bytes > 127 - longest  # the host really keeps the buffer full
    assert max(buffered) <= 127
    assert board.executed_lines == [clean_line(line) for line in lines if clean_line(line)]


def test_a_host_that_ignores_the_buffer_size_loses_data():
    """The device-side measurement above can fail: over-sending drops bytes and the stream breaks."""
    board = SlowBoard(default_profile())
    lines = program(25)
    with PtyPlotter(board) as device, GrblStreamer(device.port, timeout_s=0.5, rx_buffer_bytes=2000) as streamer:
        try:
            report = streamer.stream(lines, progress=False)
        except StreamError:
            report = None
    assert board.rx_overflow_bytes > 0
    assert report is None or not report.ok


def test_an_error_stops_the_stream_reports_the_line_and_lifts_the_pen(plotter):
    lines = ["G21", "G90", "G0 X10 Y10", "M3 S1000", "G1 X20 Y10 F1000", "G99 (bad)", "G1 X30 Y10"]
    lines += [f"G1 X{30 + i} Y20" for i in range(40)]
    with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert not report.ok
    assert report.errors[0] == {
        "line_no": 6,
        "line": "G99 (bad)",
        "code": 20,
        "meaning": GRBL_ERRORS[20],
    }
    assert report.alarm is None
    assert report.lines_sent < len(lines)  # sending stopped at the error
    # every line in GRBL's buffer was answered: acknowledged, or failed
    assert report.lines_acknowledged + len(report.errors) == report.lines_sent
    with plotter.lock:
        assert not plotter.simulator.pen_down
        assert plotter.simulator.executed_lines[-1] == "M5"
        assert "G99(BAD)" not in plotter.simulator.executed_lines


@pytest.fixture
def soft_limited_plotter():
    """A board with soft limits, which GRBL takes only with homing: it starts in alarm until unlocked."""
    with PtyPlotter(GrblSimulator(default_profile(), SimSettings(homing=True, soft_limits=True))) as device:
        yield device


def test_an_out_of_bounds_move_is_reported_as_an_alarm_and_the_machine_recovers(soft_limited_plotter):
    plotter = soft_limited_plotter
    lines = ["G21", "G90", "G0 X10 Y10", "M3 S1000", "G1 X20 Y10 F1000", "G1 X250 Y10", "G1 X30 Y10", "M5"]
    with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S, unlock=True) as streamer:
        report = streamer.stream(lines, progress=False)
    assert not report.ok
    assert report.alarm is not None
    assert report.alarm.startswith("ALARM:2 at line 6: G1 X250 Y10")
    assert GRBL_ALARMS[2] in report.alarm
    assert report.lines_acknowledged == 5
    with plotter.lock:
        sim = plotter.simulator
        assert sim.state == "Idle"  # reset and unlocked by the streamer
        assert not sim.pen_down
        assert sim.position[:2] == (20.0, 10.0)
        assert "G1X30Y10" not in sim.executed_lines
        assert sim.strokes == [[(10.0, 10.0), (20.0, 10.0)]]
    assert report.stopped_at_mm == (20.0, 10.0, 0.0)  # where the alarm stopped it, for a resume


def test_the_plotter_can_be_streamed_to_again(plotter):
    for _ in range(2):
        with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
            assert streamer.stream(program(2), progress=True).ok
    assert len(plotter.snapshot_strokes()) == 4


def test_a_wrong_port_is_one_clear_sentence(tmp_path):
    missing = str(tmp_path / "ttyNOPE")
    with pytest.raises(StreamError) as info:
        GrblStreamer(missing, timeout_s=TIMEOUT_S)
    message = str(info.value)
    assert message == f"cannot open serial port {missing}: No such file or directory"
    assert "\n" not in message


@pytest.mark.parametrize("streamer", [GrblStreamer, MarlinStreamer])
def test_a_device_that_never_answers_times_out(streamer):
    master, slave = os.openpty()  # a port with nothing behind it
    try:
        with pytest.raises(StreamError, match=rf"^no {streamer.firmware} answered on /dev/\S+ within 0.3 s$"):
            streamer(os.ttyname(slave), timeout_s=0.3)
    finally:
        os.close(master)
        os.close(slave)


def test_a_board_that_stops_answering_mid_stream_is_reported_with_its_status():
    class Stuck(GrblSimulator):
        """Stops taking lines after the 5th, but still answers '?'."""

        def busy(self) -> bool:
            return super().busy() or len(self.executed_lines) >= 5

    with PtyPlotter(Stuck(default_profile())) as device, GrblStreamer(device.port, timeout_s=0.3) as streamer:
        with pytest.raises(StreamError) as info:
            streamer.stream(program(3), progress=False)
    message = str(info.value)
    assert "after line 5 was acknowledged" in message
    assert "status: <Idle|MPos:10.000,20.000,0.000|FS:0,0" in message


def test_a_disconnect_mid_stream_is_a_stream_error():
    class Crashing(GrblSimulator):
        def receive(self, data: bytes) -> bytes:
            if len(self.executed_lines) >= 10:
                raise RuntimeError("the board lost power")
            return super().receive(data)

    device = PtyPlotter(Crashing(default_profile())).start()
    try:
        with GrblStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
            with pytest.raises(StreamError, match="lost the connection to"):
                streamer.stream(program(10), progress=False)
        assert isinstance(device.failure, RuntimeError)
    finally:
        device.stop()


def test_ctrl_c_holds_then_resets_the_board_then_lifts_the_pen(plotter):
    sim = plotter.simulator
    received = record_received(sim)

    class Interrupted(GrblStreamer):
        def on_send(self, line: str, buffered_bytes: int) -> None:
            if line.startswith("G1X10.000Y120.000"):
                raise KeyboardInterrupt

    with Interrupted(plotter.port, timeout_s=TIMEOUT_S, pen_up=("G0 Z5", "M5")) as streamer:
        with pytest.raises(StreamInterrupted) as info:
            streamer.stream(program(3), progress=False)
    report = info.value.report
    with plotter.lock:
        control = bytes(received).replace(b"?", b"")
        # feed hold until the machine stands, reset (drops what is queued), unlock, the profile's pen-up lines
        assert control[control.index(b"!") :] == b"!\x18$X\nG0Z5\nM5\n"
        assert not sim.pen_down and sim.state == "Idle"
        assert "M3S1000" in sim.executed_lines and sim.executed_lines[-2:] == ["G0Z5", "M5"]
        assert report.stopped_at_mm == pytest.approx((10.0, 120.0, 0.0))  # where the hold stopped it
    assert report.interrupted and not report.ok
    assert report.lines_acknowledged == 8  # up to the line being sent at Ctrl-C, which GRBL had taken


def test_stop_is_idempotent_and_ends_the_device_thread():
    device = PtyPlotter(GrblSimulator(default_profile())).start()
    thread = device._thread
    port = device.port
    assert os.path.exists(port)
    device.stop()
    device.stop()
    assert thread is not None and not thread.is_alive()
    assert not any(t is thread for t in threading.enumerate())


@pytest.mark.parametrize("line", ["G1 X1? Y2", "G1 X1\u00b0", "G0 X" + "1" * 130])
def test_lines_grbl_cannot_take_are_refused_before_anything_is_sent(plotter, line):
    with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
        with pytest.raises(StreamError, match=r"^line 2 .*nothing was sent$"):
            streamer.stream(["G0 X1", line], progress=False)
    with plotter.lock:
        assert plotter.simulator.executed_lines == []


# Two layers as gcode.emit_gcode writes them: the first pen's line, pen up, dwell, M0, the second pen's line.
TWO_PENS = [
    "G21",
    "G90",
    "M5",
    "G4 P0.150",
    "G0 X10.000 Y20.000",
    "M3 S1000",
    "G4 P0.150",
    "G1 X60.000 Y20.000 F3000.000",
    "M5",
    "G4 P0.1",
    "M0 (change to pen red)",
    "G0 X10.000 Y40.000",
    "M3 S1000",
    "G4 P0.150",
    "G1 X60.000 Y40.000 F3000.000",
    "M5",
    "G0 X0.000 Y0.000",
    "M2",
]


def record_received(sim: GrblSimulator) -> bytearray:
    """Every byte the device receives from the host, in order (read it under the plotter's lock)."""
    received = bytearray()
    original = sim.receive

    def recording_receive(data: bytes) -> bytes:
        received.extend(data)
        return original(data)

    sim.receive = recording_receive
    return received


def two_pen_profile():
    """The default profile (pen 0: 0.5 mm black) with a second, red pen."""
    red = '\n[[pens]]\nname = "red"\nwidth_mm = 0.5\ncolor = "#ff0000"\n'
    return parse_profile(profile_to_toml(default_profile()) + red)


@pytest.mark.parametrize(
    ("code", "pause"),
    [("M0", True), ("M1", True), ("M00", True), ("M01", True), ("G4P1M0", True), ("M2", False), ("M30", False)]
    + [("M10", False), ("M5", False), ("M0.5", False), ("G0X1", False), ("M0X", False)],
)
def test_program_pauses_are_recognised_in_cleaned_lines(code, pause):
    assert is_program_pause(code) is pause


def test_a_pen_change_pauses_the_stream_until_the_operator_is_done(plotter):
    sim = plotter.simulator
    received = record_received(sim)
    seen: list[tuple[str, str, bytes, list[str]]] = []

    def on_pause(message: str) -> None:
        with plotter.lock:
            seen.append((message, sim.state, bytes(received).replace(b"?", b""), list(sim.executed_lines)))

    with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(TWO_PENS, progress=False, on_pause=on_pause)
    assert report.ok
    assert report.lines_total == report.lines_sent == report.lines_acknowledged == len(TWO_PENS)
    assert len(seen) == 1
    message, state, sent_before, executed_before = seen[0]
    assert message == "change to pen red"
    assert state == "Hold"
    assert sent_before.endswith(b"G4P0.1\nM0\n")  # nothing after M0 went out while the operator was busy
    assert executed_before[-1] == "G4P0.1"  # GRBL answers M0 only after the cycle start that ends the pause
    with plotter.lock:
        assert received.count(b"~") == 1
        assert sim.state == "Idle"
        assert sim.executed_lines == [clean_line(line) for line in TWO_PENS]
        assert sim.strokes == [[(10.0, 20.0), (60.0, 20.0)], [(10.0, 40.0), (60.0, 40.0)]]
        assert sim.stroke_sections == [0, 1]


def test_without_a_callback_the_stream_resumes_by_itself(plotter):
    with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(TWO_PENS, progress=False)
    assert report.ok and report.lines_acknowledged == len(TWO_PENS)
    with plotter.lock:
        assert plotter.simulator.state == "Idle"
        assert plotter.simulator.stroke_sections == [0, 1]
        assert len(plotter.simulator.executed_lines) == len(TWO_PENS)


def test_the_streamed_drawing_renders_each_section_in_its_pen(plotter):
    with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
        assert streamer.stream(TWO_PENS, progress=False).ok
    with plotter.lock:
        strokes, sections = plotter.snapshot_strokes(), list(plotter.simulator.stroke_sections)
    profile, region = two_pen_profile(), (0.0, 0.0, 70.0, 50.0)  # 10 px/mm: machine y 20 -> row 300, 40 -> 100
    pixels = np.asarray(render_strokes(strokes, profile, 10.0, region, stroke_pens=sections), dtype=int)
    assert pixels.shape == (500, 700, 3)
    assert (pixels[298:302, 120:580] < 30).all()  # the first pen's line: black
    red = pixels[98:102, 120:580]
    assert (red[..., 0] > 225).all() and (red[..., 1:] < 30).all()  # the second pen's line: red
    assert (pixels[200, :] == 255).all()  # paper between them
    single = render_strokes(strokes, profile, 10.0, region)
    assert single.mode == "L"  # without stroke_pens: one pen for everything, as before
    one_pen = render_strokes(strokes, default_profile(), 10.0, region)
    np.testing.assert_array_equal(np.asarray(single), np.asarray(one_pen))


def test_a_pause_keeps_the_character_counting_on_both_sides():
    board = SlowBoard(default_profile())
    buffered: list[tuple[str, int]] = []

    class Recording(GrblStreamer):
        def on_send(self, line: str, buffered_bytes: int) -> None:
            buffered.append((line, buffered_bytes))

    lines = program(12) + ["M0 (change to pen red)"] + program(12)
    with PtyPlotter(board) as device, Recording(device.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False, on_pause=lambda message: None)
    assert report.ok and report.lines_acknowledged == report.lines_sent == len(lines) - report.lines_skipped
    assert board.rx_overflow_bytes == 0
    assert board.rx_peak_bytes <= 127 and max(b for _, b in buffered) <= 127
    sent = [line for line, _ in buffered]
    assert sent == [clean_line(line) for line in lines if clean_line(line)]
    after = sent.index("M0") + 1
    assert buffered[after] == (sent[after], len(sent[after]) + 1)  # the first line after M0 met an empty buffer
    longest = max(len(clean_line(line)) + 1 for line in lines)
    full_before = max(b for _, b in buffered[: after - 1])
    full_after = max(b for _, b in buffered[after:])
    assert full_before > 127 - longest and full_after > 127 - longest  # the buffer is kept full on both sides
    assert board.stroke_sections == [0] * 12 + [1] * 12
    assert board.executed_lines == sent


def test_a_pause_line_that_grbl_rejects_ends_the_stream_without_asking_the_operator(plotter):
    calls: list[str] = []
    lines = ["G21", "G1 X1 M0 (no feed rate yet)", "G0 X5"]
    with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False, on_pause=calls.append)
    assert calls == []
    assert [e["line_no"] for e in report.errors] == [2] and report.errors[0]["code"] == 22
    assert report.lines_sent == 2
    with plotter.lock:
        assert plotter.simulator.state == "Idle"
        assert plotter.simulator.executed_lines == ["G21", "M5"]  # then the pen was lifted


def test_ctrl_c_during_a_pen_change_holds_and_resets_the_board(plotter):
    sim = plotter.simulator
    received = record_received(sim)

    def on_pause(message: str) -> None:
        raise KeyboardInterrupt

    with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
        with pytest.raises(StreamInterrupted):
            streamer.stream(TWO_PENS, progress=False, on_pause=on_pause)
    with plotter.lock:
        assert b"~" not in received  # never resumed
        assert sim.state == "Idle" and not sim.pen_down  # the reset ended the hold
        assert sim.executed_lines[-2:] == ["G4P0.1", "M5"]  # M0 never ended: the reset ended the pause
        assert sim.stroke_sections == [0]


# ------------------------------------------------------------------------------ protocols and progress


def test_send_response_keeps_one_line_in_the_board_at_a_time():
    board = SlowBoard(default_profile())
    lines = program(8)
    with PtyPlotter(board) as device, GrblStreamer(device.port, timeout_s=TIMEOUT_S, send_response=True) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok and report.lines_acknowledged == report.lines_sent == len(lines) - report.lines_skipped
    assert board.rx_peak_bytes == max(len(clean_line(line)) + 1 for line in lines)  # never two lines at once
    assert board.executed_lines == [clean_line(line) for line in lines if clean_line(line)]


def test_a_machine_busy_with_a_long_move_may_answer_later_than_the_timeout():
    # 150 mm at 10 mm/s is 15 s of motion, 1.5 s on this clock; M5 is answered only when it is over.
    board = GrblSimulator(default_profile(), SimSettings(time_scale=0.1))
    lines = ["G21", "G90", "M3 S1000", "G1 X150 F600", "M5"]
    with PtyPlotter(board) as device, GrblStreamer(device.port, timeout_s=0.5) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok  # the status said Run: busy, not lost
    assert report.seconds >= 1.5
    assert board.strokes == [[(0.0, 0.0), (150.0, 0.0)]]


def test_after_an_error_a_z_lift_machine_lifts_its_pen_on_z():
    profile = load_profile(Path(__file__).resolve().parent.parent / "examples" / "profiles" / "a3_grbl_z.toml")
    pen_up = dialect_for(profile).pen_up
    lines = ["G21", "G90", "G0 X10 Y10", "G1 Z0.000 F600.000", "G1 X20 Y10 F2500", "G99", "G1 X30 Y10"]
    board = GrblSimulator(profile)
    with PtyPlotter(board) as device, GrblStreamer(device.port, timeout_s=TIMEOUT_S, pen_up=pen_up) as streamer:
        report = streamer.stream(lines, progress=False)
    assert [e["line_no"] for e in report.errors] == [6]
    assert pen_up == ("G0 Z5.000",)
    # GRBL ran the line already in its buffer after the failed one, then the streamer's pen lift
    assert board.executed_lines[-2:] == ["G1X30Y10", "G0Z5.000"] and board.position == (30.0, 10.0, 5.0)
    assert not board.pen_down and board.strokes == [[(10.0, 10.0), (20.0, 10.0), (30.0, 10.0)]]


def test_the_progress_bar_shows_lines_rate_the_plan_s_eta_and_the_machine(capsys):
    board = GrblSimulator(default_profile(), SimSettings(time_scale=0.02))
    lines = program(10)
    elapsed = elapsed_seconds(lines, default_profile())
    with PtyPlotter(board) as device, GrblStreamer(device.port, timeout_s=TIMEOUT_S) as streamer:
        assert streamer.stream(lines, progress=True, elapsed_s=elapsed).ok
    shown = capsys.readouterr().err
    assert f"/{len(lines)} lines" in shown and "lines/s" in shown
    assert re.search(r"ETA \d+:\d\d", shown)
    assert re.search(r"(Run|Idle) X\d+\.\d Y\d+\.\d", shown)  # the machine's state and position from '?'
