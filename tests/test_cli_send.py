"""`strokebot send` and `strokebot ports` from the command line: journals, resuming, Ctrl-C, failures, protocols."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serial.tools.list_ports_common import ListPortInfo

from robot.host.journal import read_journal
from strokebot.cli import main

PROFILES = Path(__file__).resolve().parent.parent / "examples" / "profiles"
LINES = 3 + 20 * 13 + 2  # the lines of program()


def program(strokes: int = 20) -> str:
    lines = ["G21", "G90", "M5"]
    for i in range(strokes):
        x = 10.0 + 5 * i
        lines += [f"G0 X{x:.3f} Y20.000", "M3 S1000", "G4 P0.050"]
        lines += [f"G1 X{x:.3f} Y{20 + 10 * k:.3f} F3000.000" for k in range(1, 9)]
        lines += ["M5", "G4 P0.050"]
    return "\n".join(lines + ["G0 X0.000 Y0.000", "M2"]) + "\n"


@pytest.fixture
def gcode(tmp_path) -> Path:
    path = tmp_path / "d.gcode"
    path.write_text(program())
    return path


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and lines and lines[-1].startswith("strokebot: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[-1]


def test_send_keeps_a_journal_beside_the_program_and_a_finished_job_has_nothing_to_resume(run_cli, gcode):
    proc = run_cli("send", gcode, "--port", "sim", "--quiet")
    assert proc.returncode == 0, proc.stderr
    journal = gcode.with_name("d.gcode.journal")
    state = read_journal(journal)
    total = len(gcode.read_text().splitlines())
    assert state.header.program == str(gcode) and state.acknowledged == set(range(1, total + 1))
    again = run_cli("send", "--resume", journal, "--port", "sim", "--quiet")
    assert again.returncode == 0, again.stderr
    assert "nothing to resume" in again.stdout


def test_the_journal_can_be_put_elsewhere(run_cli, gcode, tmp_path):
    elsewhere = tmp_path / "logs" / "job.journal"
    elsewhere.parent.mkdir()
    assert run_cli("send", gcode, "--port", "sim", "--quiet", "--journal", elsewhere).returncode == 0
    assert elsewhere.exists() and not gcode.with_name("d.gcode.journal").exists()


def test_a_lost_connection_is_one_error_line_with_how_far_the_job_got_and_it_resumes(run_cli, gcode):
    proc = run_cli("send", gcode, "--port", "sim://?disconnect_after_lines=50", "--quiet")
    line = one_error_line(proc)
    assert "lost the connection to sim://" in line
    assert f"50 of {LINES} lines acknowledged" in line and "mm drawn" in line
    assert f"strokebot send --resume {gcode}.journal" in line
    resumed = run_cli("send", "--resume", f"{gcode}.journal", "--port", "sim", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at line 51 of {LINES}" in resumed.stderr
    assert read_journal(f"{gcode}.journal").first_unacknowledged() == LINES + 1


def test_a_rejected_line_is_one_error_line_with_grbl_s_meaning_and_the_summary(run_cli, gcode):
    line = one_error_line(run_cli("send", gcode, "--port", "sim://?error_on_line=9", "--quiet"))
    assert "plotter rejected line 9 (G1 X10.000 Y50.000 F3000.000): error:20 Unsupported" in line
    assert re.search(rf"; \d+ of {LINES} lines acknowledged", line)  # the lines GRBL had already, and 1 to 8


def test_resume_refuses_a_program_that_changed_since(run_cli, gcode):
    run_cli("send", gcode, "--port", "sim://?disconnect_after_lines=30", "--quiet")
    gcode.write_text(program().replace("F3000", "F2000"))
    line = one_error_line(run_cli("send", "--resume", f"{gcode}.journal", "--port", "sim", "--quiet"))
    assert line == (f"strokebot: error: {gcode} has changed since the journal {gcode}.journal was written; "
                    "cannot resume (send it again from the start)")


def test_a_marlin_profile_streams_numbered_lines_to_a_simulated_marlin(run_cli, tmp_path):
    path = tmp_path / "m.gcode"
    path.write_text("G21\nG90\nM280 P0 S50\nG0 X20 Y20\nM280 P0 S20\nG1 X60 Y20 F3000\nM280 P0 S50\nM400\n")
    profile = PROFILES / "a4_marlin_servo.toml"
    proc = run_cli("send", path, "--port", "sim", "--quiet", "--profile", profile)
    assert proc.returncode == 0, proc.stderr
    assert "sent 8 lines, 8 acknowledged" in proc.stdout


def test_ctrl_c_lifts_the_pen_says_how_far_the_job_got_and_the_job_resumes(tmp_path, gcode):
    strokebot = [sys.executable, "-c", "from strokebot.cli import main; main()"]
    plotter = subprocess.Popen([*strokebot, "simulate", "--pty", "--time-scale", "0.1"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        port = plotter.stdout.readline().strip()
        journal = Path(f"{gcode}.journal")
        send = subprocess.Popen([*strokebot, "send", gcode, "--port", port, "--quiet"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not journal.exists() or len(journal.read_text().split()) < 40):
            time.sleep(0.05)  # well into the job
        send.send_signal(signal.SIGINT)
        _, err = send.communicate(timeout=60)
        assert send.returncode == 130, err
        summary = [line for line in err.splitlines() if line.startswith("stopped: the pen is up; ")]
        assert len(summary) == 1 and "lines acknowledged" in summary[0] and "mm drawn" in summary[0]
        assert f"go on with: strokebot send --resume {journal} --port {port}" in summary[0]
        assert err.strip().splitlines()[-1] == "strokebot: interrupted"
        resumed = subprocess.run([*strokebot, "send", "--resume", journal, "--port", port, "--quiet"],
                                 capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        assert read_journal(journal).first_unacknowledged() == LINES + 1
    finally:
        plotter.send_signal(signal.SIGINT)
        _, plotter_err = plotter.communicate(timeout=30)
    assert "20 strokes" in plotter_err or "21 strokes" in plotter_err  # the interrupted one may be in two parts


def test_ports_lists_each_serial_port_with_what_it_is(monkeypatch, capsys):
    usb = ListPortInfo("/dev/ttyUSB0")
    usb.description, usb.hwid = "USB2.0-Serial", "USB VID:PID=1A86:7523"
    acm = ListPortInfo("/dev/ttyACM0")
    acm.description = "Arduino Uno"
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: [usb, acm])
    with pytest.raises(SystemExit) as exit_info:
        main(["ports"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.splitlines() == [
        "/dev/ttyACM0  Arduino Uno",
        "/dev/ttyUSB0  USB2.0-Serial  [USB VID:PID=1A86:7523]",
    ]


def test_ports_says_so_when_there_are_none(monkeypatch, capsys):
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: [])
    with pytest.raises(SystemExit):
        main(["ports"])
    assert capsys.readouterr().err.strip() == "no serial ports found"
