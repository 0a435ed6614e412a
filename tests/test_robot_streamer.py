"""The streamer against the simulated plotter, always through a real pseudo-terminal and pyserial."""

from __future__ import annotations

import os
import threading
import time

import pytest

from calibration import default_profile
from robot import GRBL_ALARMS, GRBL_ERRORS, GrblSimulator, GrblStreamer, PtyPlotter, StreamError, clean_line

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
    assert report.lines_total == report.lines_acknowledged == 200
    comments = sum(1 for line in lines if line.startswith("("))
    assert report.lines_sent == 200 - comments  # comment-only lines are not sent
    assert report.errors == [] and report.alarm is None
    sent = [clean_line(line) for line in lines if clean_line(line)]
    with plotter.lock:
        assert plotter.simulator.executed_lines == sent
    strokes = plotter.snapshot_strokes()
    assert len(strokes) == 24
    assert strokes[0] == [(10.0, 20.0), (10.0, 120.0), (11.25, 121.5)]
    assert report.to_dict()["lines_acknowledged"] == 200


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
    assert report.lines_acknowledged == report.lines_sent  # what was in GRBL's buffer was answered
    with plotter.lock:
        assert not plotter.simulator.pen_down
        assert plotter.simulator.executed_lines[-1] == "M5"
        assert "G99(BAD)" not in plotter.simulator.executed_lines


def test_an_out_of_bounds_move_is_reported_as_an_alarm_and_the_machine_recovers(plotter):
    lines = ["G21", "G90", "G0 X10 Y10", "M3 S1000", "G1 X20 Y10 F1000", "G1 X250 Y10", "G1 X30 Y10", "M5"]
    with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
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


def test_a_device_that_never_answers_times_out():
    master, slave = os.openpty()  # a port with nothing behind it
    try:
        with pytest.raises(StreamError, match=r"^no GRBL answered on /dev/\S+ within 0.3 s$"):
            GrblStreamer(os.ttyname(slave), timeout_s=0.3)
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
    assert "status: <Idle|MPos:10.000,20.000,0.000|FS:0,0>" in message


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


def test_ctrl_c_holds_and_resets_the_board_which_lifts_the_pen(plotter):
    received = bytearray()
    sim = plotter.simulator
    original = sim.receive

    def recording_receive(data: bytes) -> bytes:
        received.extend(data)
        return original(data)

    sim.receive = recording_receive

    class Interrupted(GrblStreamer):
        def on_send(self, line: str, buffered_bytes: int) -> None:
            if line.startswith("G1X10.000Y120.000"):
                raise KeyboardInterrupt

    with Interrupted(plotter.port, timeout_s=TIMEOUT_S) as streamer:
        with pytest.raises(KeyboardInterrupt):
            streamer.stream(program(3), progress=False)
        assert wait_until(lambda: received.endswith(b"!\x18"))
    with plotter.lock:
        assert not sim.pen_down  # the line with M3 S1000 ran, then the reset stopped the spindle
        assert "M3S1000" in sim.executed_lines
        assert sim.state == "Idle"


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
