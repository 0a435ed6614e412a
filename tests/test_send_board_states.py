"""What `send` finds on the board when it connects, `send --check`, and the line numbers a resumed job's
errors name: against the simulated GRBL through pyserial, on a pseudo-terminal or a sim:// URL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from calibration import default_profile
from robot import (
    ConnectOptions,
    GrblSimulator,
    GrblStreamer,
    PtyPlotter,
    SimSettings,
    StreamError,
    StreamInterrupted,
    clean_line,
)
from robot.boards.sim_url import NAMED_SIMULATORS
from robot.host.journal import Journal, program_header, read_journal
from strokebot import jobs
from strokebot.cli import main

STROKEBOT = [sys.executable, "-c", "from strokebot.cli import main; main()"]
PROFILES = Path(__file__).resolve().parent.parent / "examples" / "profiles"
TIMEOUT_S = 2.0
ZIGZAG = 30  # the drawing moves of zigzag()


def zigzag() -> list[str]:
    """One pen-down run of ZIGZAG 40 mm moves with no line GRBL waits on: the planner stays full while it draws."""
    lines = ["G21", "G90", "M5", "G0 X10.000 Y10.000", "M3 S1000", "G4 P0.050"]
    lines += [f"G1 X{50 if i % 2 == 0 else 10}.000 Y{10 + 3 * (i + 1)}.000 F3000.000" for i in range(ZIGZAG)]
    return lines + ["M5", "G0 X0.000 Y0.000", "M2"]


def record_said(sim: GrblSimulator) -> bytearray:
    """Everything the board says from now on, in order (read it under the plotter's lock)."""
    said = bytearray()
    receive, poll = sim.receive, sim.poll

    def recording_receive(data: bytes) -> bytes:
        out = receive(data)
        said.extend(out)
        return out

    def recording_poll() -> bytes:
        out = poll()
        said.extend(out)
        return out

    sim.receive, sim.poll = recording_receive, recording_poll
    return said


def send_raw(port: str, data: bytes) -> bytes:
    """Another program writes ``data`` to the board and goes away; returns what it heard meanwhile."""
    with serial.Serial(port, 115200, timeout=0.1) as raw:
        raw.write(data)
        time.sleep(0.2)
        return raw.read(4096)


def wait_until(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def half_done_job(tmp_path: Path, acknowledged: int) -> tuple[list[str], Journal]:
    """The zigzag program with a journal whose first ``acknowledged`` lines were acknowledged."""
    gcode = tmp_path / "z.gcode"
    lines = zigzag()
    gcode.write_text("\n".join(lines) + "\n")
    journal = Journal.create(f"{gcode}.journal", program_header(gcode, None))
    for line_no in range(1, acknowledged + 1):
        journal.acknowledge(line_no)
    return lines, journal


# ------------------------------------------------------------------------------------- Run and Hold


def test_a_board_still_running_queued_moves_is_waited_for_never_reset_in_motion():
    sim = GrblSimulator(default_profile(), SimSettings(time_scale=0.1))
    with PtyPlotter(sim) as plotter:
        send_raw(plotter.port, b"G21\nG90\nM3 S1000\nG1 X150 F1200\n")  # 7.5 s of motion, 0.75 s on this clock
        with plotter.lock:
            assert sim.state == "Run"
            said = record_said(sim)
        notices: list[str] = []
        with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S, on_notice=notices.append) as streamer:
            with plotter.lock:
                assert sim.state == "Idle" and sim.position[:2] == (150.0, 0.0)  # the move ran to its end
            assert streamer.stream(["M5", "G0 X10 Y10"], progress=False).ok
        assert notices == [f"GRBL on {plotter.port} is still moving (Run): waiting for the board to finish the "
                           "moves a previous sender queued"]
        assert streamer.queue_dropped_at is None
        with plotter.lock:
            assert b"ALARM" not in said
            assert sim.strokes == [[(0.0, 0.0), (150.0, 0.0)]]


def test_a_feed_hold_is_refused_in_one_line_and_reset_drops_the_queue_keeping_the_position():
    sim = GrblSimulator(default_profile(), SimSettings(time_scale=0.1))
    with PtyPlotter(sim) as plotter:
        send_raw(plotter.port, b"G21\nG90\nM3 S1000\nG1 X150 F1200\nG1 X150 Y100\n")
        send_raw(plotter.port, b"!")
        with plotter.lock:
            assert sim.state == "Hold"
            said = record_said(sim)
        with pytest.raises(StreamError) as info:  # once the hold has come to a stop (Hold:0)
            GrblStreamer(plotter.port, timeout_s=TIMEOUT_S)
        assert str(info.value) == (
            f"GRBL on {plotter.port} is in a feed hold (Hold:0), perhaps left by a sender that was stopped: pass "
            "--reset to drop what it had queued (the machine keeps its position), or resume it with cycle start "
            "(~) from another program"
        )
        with plotter.lock:
            assert sim.state == "Hold"  # refused without touching it
            held_at = sim.position
        with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S, reset=True) as streamer:
            with plotter.lock:
                assert sim.state == "Idle" and sim.position == held_at
        assert streamer.queue_dropped_at is not None and streamer.queue_dropped_at.state == "Hold:0"
        assert streamer.queue_dropped_at.position_mm == pytest.approx(held_at, abs=0.02)  # a report has steps
        with plotter.lock:
            assert b"ALARM" not in said
            assert "G1X150Y100" not in sim.executed_lines  # the queued move was dropped


class ReportsIdleOnce(GrblSimulator):
    """A board whose first answer to '?' says Idle while it runs: the streamer's reset then comes in motion."""

    lie = False

    def status_report(self) -> bytes:
        if self.lie:
            self.lie = False
            return b"<Idle|MPos:0.000,0.000,0.000|FS:0,0>\r\n"
        return super().status_report()


def test_an_alarm_the_streamer_s_own_reset_raised_is_cleared_without_asking():
    sim = ReportsIdleOnce(default_profile(), SimSettings(time_scale=0.1))
    with PtyPlotter(sim) as plotter:
        send_raw(plotter.port, b"G21\nG90\nG1 X150 F1200\n")
        with plotter.lock:
            sim.lie = True
            said = record_said(sim)
        with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
            assert streamer.stream(["G0 X10 Y10"], progress=False).ok
        with plotter.lock:
            assert b"ALARM:3" in said and b"[MSG:Caution: Unlocked]" in said and sim.state != "Alarm"
        assert streamer.queue_dropped_at is not None  # what was queued is gone


# ------------------------------------------------------------------------------------------ Alarm


def alarmed_board() -> GrblSimulator:
    """A board with homing and soft limits: it boots in alarm, and a move out of the work area is ALARM:2."""
    return GrblSimulator(default_profile(), SimSettings(homing=True, soft_limits=True))


def test_a_board_in_alarm_is_refused_with_what_to_do_and_unlock_clears_it():
    sim = alarmed_board()
    with PtyPlotter(sim) as plotter:
        heard = send_raw(plotter.port, b"$X\nG0 X900\n")
        assert b"ALARM:2" in heard  # a critical alarm: GRBL answers nothing, not even '?', until a reset
        with pytest.raises(StreamError) as info:
            GrblStreamer(plotter.port, timeout_s=TIMEOUT_S)
        assert str(info.value) == (
            f"GRBL on {plotter.port} is in alarm (homing is enabled and the machine has not been homed, or an "
            "alarm or emergency stop happened): home it ($H), or check the machine and pass --unlock to clear "
            "the alarm with $X"
        )
        with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S, unlock=True) as streamer:
            report = streamer.stream(["G21", "G90", "G0 X10 Y10"], progress=False)
        assert report.ok and streamer.queue_dropped_at.state == "Alarm"
        with plotter.lock:
            assert sim.state == "Idle" and sim.position[:2] == (10.0, 10.0)


def test_a_board_that_boots_in_alarm_with_homing_enabled_is_refused_and_unlocked_on_request():
    url = "sim://?homing=1&name=homing_boot"
    with pytest.raises(StreamError, match=r"is in alarm \(homing is enabled and the machine has not been homed"):
        GrblStreamer(url, timeout_s=TIMEOUT_S)
    with GrblStreamer(url, timeout_s=TIMEOUT_S, unlock=True) as streamer:
        assert streamer.stream(["G21", "G90", "G0 X10 Y10"], progress=False).ok
    assert NAMED_SIMULATORS["homing_boot"].state == "Idle"


def test_send_refuses_an_alarmed_board_in_one_line_and_goes_on_with_unlock(tmp_path, capsys):
    gcode = tmp_path / "z.gcode"
    gcode.write_text("\n".join(zigzag()) + "\n")
    for args, code in (([], 2), (["--unlock"], 0)):
        with pytest.raises(SystemExit) as exit_info:
            main(["send", str(gcode), "--port", "sim://?homing=1", "--quiet", *args])
        assert exit_info.value.code == code
        err = capsys.readouterr().err.strip().splitlines()
        if code == 2:
            assert len(err) == 2 and err[1].startswith("strokebot: error: GRBL on sim://?homing=1 is in alarm ")
            assert "pass --unlock to clear the alarm with $X" in err[1]


# ------------------------------------------------------------------------- a sender killed mid-job


def test_resume_after_a_sender_killed_while_the_board_moved_waits_and_finishes_the_drawing(tmp_path, capsys):
    gcode = tmp_path / "z.gcode"
    lines = zigzag()
    gcode.write_text("\n".join(lines) + "\n")
    journal = Path(f"{gcode}.journal")
    sim = GrblSimulator(default_profile(), SimSettings(time_scale=0.25))  # each move: 0.2 s on this clock
    with PtyPlotter(sim) as plotter:
        with plotter.lock:
            said = record_said(sim)
        sender = subprocess.Popen([*STROKEBOT, "send", str(gcode), "--port", plotter.port, "--quiet"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert wait_until(lambda: journal.exists() and len(journal.read_text().splitlines()) > 14, 60)
        finally:
            sender.send_signal(signal.SIGKILL)
            sender.communicate(timeout=30)
        with plotter.lock:
            assert sim.state == "Run"  # the moves it had queued are still running
        with pytest.raises(SystemExit) as exit_info:
            main(["send", "--resume", str(journal), "--port", plotter.port, "--quiet"])
        err = capsys.readouterr().err
        assert exit_info.value.code == 0, err
        assert "waiting for the board to finish the moves a previous sender queued" in err
        with plotter.lock:
            assert b"ALARM" not in said and sim.state == "Idle" and not sim.pen_down
            drawn = {point for stroke in sim.strokes for point in stroke}
    assert read_journal(journal).first_unacknowledged() == len(lines) + 1
    corners = {(50.0 if i % 2 == 0 else 10.0, 10.0 + 3 * (i + 1)) for i in range(ZIGZAG)}
    assert corners <= drawn  # every move of the drawing was drawn


def test_resume_with_reset_from_a_hold_goes_back_to_the_lines_the_hold_dropped(tmp_path, capsys):
    lines, journal = half_done_job(tmp_path, 20)  # a sender had all of 1-20 queued (and acknowledged) ...
    journal.close()
    sim = GrblSimulator(default_profile(), SimSettings(time_scale=0.25))
    with PtyPlotter(sim) as plotter:
        send_raw(plotter.port, "".join(f"{line}\n" for line in lines[:20]).encode())
        send_raw(plotter.port, b"!")  # ... when it was stopped with a feed hold, and went away
        with plotter.lock:
            assert sim.state == "Hold" and len(sim.executed_lines) < 20
        with pytest.raises(SystemExit) as exit_info:
            main(["send", "--resume", str(journal.path), "--port", plotter.port, "--quiet", "--reset"])
        err = capsys.readouterr().err
        assert exit_info.value.code == 0, err
        assert "with what the previous sender queued dropped: going on from line " in err
        with plotter.lock:
            drawn = {point for stroke in sim.strokes for point in stroke}
    corners = {(50.0 if i % 2 == 0 else 10.0, 10.0 + 3 * (i + 1)) for i in range(ZIGZAG)}
    assert corners <= drawn  # the moves the hold dropped were drawn too


# ------------------------------------------------------------------------------------- check mode


def test_check_mode_parses_every_line_reports_every_error_and_moves_nothing():
    lines = zigzag()
    lines[10] = "G99 X1"
    lines[20] = "G1 X10 Y10 Q7"
    url = "sim://?name=checking"
    with GrblStreamer(url, timeout_s=TIMEOUT_S) as streamer:
        report = streamer.check(lines, progress=False)
        assert streamer.stream(["G21", "G0 X5 Y5"], progress=False).ok  # check mode was left
    assert [(e["line_no"], e["code"]) for e in report.errors] == [(11, 20), (21, 20)]
    assert report.lines_acknowledged + len(report.errors) == len(lines)
    board = NAMED_SIMULATORS["checking"]
    assert board.checked_lines == [clean_line(line) for i, line in enumerate(lines) if i not in (10, 20)]
    assert board.strokes == [] and board.executed_lines == ["G21", "G0X5Y5"]  # nothing of the check ran


def test_ctrl_c_in_check_mode_leaves_it_and_moves_nothing():
    class Interrupted(GrblStreamer):
        def on_send(self, line: str, buffered_bytes: int) -> None:
            if line.startswith("G1X50.000Y31.000"):
                raise KeyboardInterrupt

    with PtyPlotter(GrblSimulator(default_profile())) as plotter:
        with Interrupted(plotter.port, timeout_s=TIMEOUT_S) as streamer:
            with pytest.raises(StreamInterrupted):
                streamer.check(zigzag(), progress=False)
            with pytest.raises(StreamError, match=r"^line 3 is \$C, which would end check mode"):
                streamer.check(["G21", "G90", "$C", "G0 X10"], progress=False)
        with plotter.lock:
            sim = plotter.simulator
            assert sim.state == "Idle" and sim.executed_lines == [] and sim.strokes == []


def test_a_board_left_in_check_mode_is_taken_out_of_it():
    with PtyPlotter(GrblSimulator(default_profile())) as plotter:
        assert b"[MSG:Enabled]" in send_raw(plotter.port, b"$C\n")
        with GrblStreamer(plotter.port, timeout_s=TIMEOUT_S) as streamer:
            assert streamer.stream(["G21", "G0 X5 Y5"], progress=False).ok
        with plotter.lock:
            assert plotter.simulator.state == "Idle" and plotter.simulator.position[:2] == (5.0, 5.0)


def test_send_check_says_no_errors_and_writes_no_journal(tmp_path, run_cli):
    gcode = tmp_path / "z.gcode"
    gcode.write_text("\n".join(zigzag()) + "\n")
    proc = run_cli("send", gcode, "--port", "sim", "--check", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"checked {len(zigzag())} lines: no errors"
    assert not Path(f"{gcode}.journal").exists()


def test_send_check_names_the_first_error_line_and_how_many(tmp_path, capsys):
    gcode = tmp_path / "z.gcode"
    lines = zigzag()
    lines[10], lines[20] = "G1 X10 Y10 Q7", "G1 X20 Y20 Q8"
    gcode.write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["send", str(gcode), "--port", "sim", "--check", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert [line.split(":")[0] for line in err[:2]] == ["line 11 (G1 X10 Y10 Q7)", "line 21 (G1 X20 Y20 Q8)"]
    assert err[-1].startswith("strokebot: error: plotter rejected line 11 (G1 X10 Y10 Q7): error:20 ")
    assert err[-1].endswith(f"(2 errors in {len(lines)} lines checked; nothing moved)")
    assert not Path(f"{gcode}.journal").exists()


def test_send_check_on_marlin_is_one_line(tmp_path, run_cli):
    gcode = tmp_path / "m.gcode"
    gcode.write_text("G21\nG90\nG0 X20 Y20\n")
    proc = run_cli("send", gcode, "--port", "sim", "--check", "--profile", PROFILES / "a4_marlin_servo.toml")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("strokebot: error: Marlin has no check mode")
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------ resumed line numbers


def test_a_resumed_job_s_errors_and_alarms_name_the_program_s_own_lines(tmp_path):
    lines, journal = half_done_job(tmp_path, 20)
    preamble = len(jobs.resume_plan(lines, journal, default_profile()).lines) - (len(lines) - 20)
    with journal:
        report, _ = jobs.send_program(lines, f"sim://?error_on_line={preamble + 3}", default_profile(),
                                      progress=False, journal=journal)
    assert report.errors[0]["line_no"] == 23 and report.errors[0]["line"] == lines[22]
    lines, journal = half_done_job(tmp_path, 20)
    lines[24] = "G1 X900.000 Y10.000"
    with journal:
        report, _ = jobs.send_program(lines, "sim://?homing=1&soft_limits=1", default_profile(),
                                      progress=False, journal=journal, connect=ConnectOptions(unlock=True))
    assert report.alarm.startswith("ALARM:2 at line 25: G1 X900.000 Y10.000")


class StuckAfterTwo(GrblSimulator):
    """Takes no line after its second, but still answers '?'."""

    def busy(self) -> bool:
        return super().busy() or len(self.executed_lines) >= 2


def test_an_error_in_the_resume_preamble_says_so(tmp_path, capsys):
    lines, journal = half_done_job(tmp_path, 20)
    with journal:
        report, _ = jobs.send_program(lines, "sim://?error_on_line=2", default_profile(), progress=False,
                                      journal=journal)
    assert report.errors[0]["line_no"] is None and report.errors[0]["line"] == "G90"
    with pytest.raises(SystemExit) as exit_info:
        main(["send", "--resume", str(journal.path), "--port", "sim://?error_on_line=2", "--quiet"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("strokebot: error: plotter rejected a line of the resume preamble (G90): error:20 ")
    with PtyPlotter(StuckAfterTwo(default_profile())) as plotter, GrblStreamer(plotter.port, timeout_s=0.3) as streamer:
        with pytest.raises(StreamError, match=r"after line 2 of the resume preamble before line 7 was acknowledged"):
            streamer.stream(["G21", "G90", "G0 X1", "G0 X2"], progress=False, line_numbers=[None, None, 7, 8])
