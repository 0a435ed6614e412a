"""A stream stops safely whatever ends it: an exception (a journal that cannot be written), SIGTERM, SIGHUP,
a second Ctrl-C during the stop; the virtual plotter and `fit` leave whole files (or none) when killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from calibration import default_profile
from gcode.dialects import dialect_for
from robot import GrblSimulator, GrblStreamer, PtyPlotter, StreamInterrupted, clean_line
from robot.boards.sim_url import NAMED_SIMULATORS
from robot.host.journal import Journal, read_journal
from strokebot.cli import main
from test_cli_send import LINES, gcode, program  # noqa: F401  (gcode is a fixture: one test program for both files)

STROKEBOT = [sys.executable, "-c", "from strokebot.cli import main; main()"]
PEN_UP = [clean_line(line) for line in dialect_for(default_profile()).pen_up]


def ends_with_the_pen_up(executed: list[str]) -> bool:
    """The pen-up lines ran after the last drawing line, and nothing after them."""
    last_draw = max(i for i, line in enumerate(executed) if line.startswith("G1"))
    return executed[-len(PEN_UP) :] == PEN_UP and len(executed) - len(PEN_UP) > last_draw


def popen(*args: object) -> subprocess.Popen:
    return subprocess.Popen([*STROKEBOT, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)


def wait_for_records(journal: Path, count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (not journal.exists() or len(journal.read_text().split("\n")) < count):
        time.sleep(0.05)


def test_a_journal_that_stops_taking_writes_stops_the_stream_pen_up_with_one_error_line(
    gcode, monkeypatch, capsys
):
    write = Journal._write
    records = []

    def full_disk(self, record: str) -> None:
        records.append(record)
        if len(records) == 41:  # line 41, a drawing line (the pen down): the disk is full from here on
            self._file.close()
            self._file = open("/dev/full", "w", encoding="utf-8")
        write(self, record)

    monkeypatch.setattr(Journal, "_write", full_disk)
    with pytest.raises(SystemExit) as exit_info:
        main(["send", str(gcode), "--port", "sim://?time_scale=0.02&name=fulldisk", "--quiet"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"{LINES} lines, about 1.0 min of plotting" and len(err) == 2, err  # no traceback
    line = err[1]
    assert line.startswith("strokebot: error: [Errno 28] No space left on device; ")
    assert "; stopped: the pen is up; " in line and f"of {LINES} lines acknowledged" in line
    assert f"go on with: strokebot send --resume {gcode}.journal --port sim://" in line
    assert "the journal could not be written: No space left on device" in line
    board = NAMED_SIMULATORS["fulldisk"]
    assert ends_with_the_pen_up(board.executed_lines) and not board.pen_down
    assert len(board.executed_lines) < LINES  # it stopped mid-job
    assert read_journal(f"{gcode}.journal").first_unacknowledged() == 41  # what was written stays readable


def test_any_exception_in_the_stream_holds_resets_and_lifts_the_pen_then_goes_on_up():
    class Broken(GrblStreamer):
        def on_send(self, line: str, buffered_bytes: int) -> None:
            if line.startswith("G1X10.000Y60.000"):
                raise RuntimeError("a bug")

    with PtyPlotter(GrblSimulator(default_profile())) as plotter:
        with Broken(plotter.port, timeout_s=2.0, pen_up=PEN_UP) as streamer:
            with pytest.raises(RuntimeError, match="a bug") as info:
                streamer.stream(program().splitlines(), progress=False)
        with plotter.lock:
            assert ends_with_the_pen_up(plotter.simulator.executed_lines) and not plotter.simulator.pen_down
    assert info.value.report.interrupted and info.value.report.stopped_at_mm is not None


def test_a_second_ctrl_c_during_the_stop_does_not_keep_the_pen_from_going_up():
    class Impatient(GrblStreamer):
        def on_send(self, line: str, buffered_bytes: int) -> None:
            if line.startswith("G1X10.000Y60.000"):
                raise KeyboardInterrupt

        def _until_stopped(self, flow):
            os.kill(os.getpid(), signal.SIGINT)  # the operator presses Ctrl-C again, during the feed hold
            time.sleep(0.05)
            return super()._until_stopped(flow)

        def _lift_pen(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)  # and again while the pen goes up
            super()._lift_pen()

    with PtyPlotter(GrblSimulator(default_profile())) as plotter:
        with Impatient(plotter.port, timeout_s=2.0, pen_up=PEN_UP) as streamer:
            with pytest.raises(StreamInterrupted) as info:
                streamer.stream(program().splitlines(), progress=False)
        with plotter.lock:
            assert ends_with_the_pen_up(plotter.simulator.executed_lines) and not plotter.simulator.pen_down
    assert info.value.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back after the stop


def test_sigterm_stops_send_like_ctrl_c_the_job_resumes_and_sigterm_stops_the_pty_plotter_with_its_png(
    gcode, tmp_path
):
    png = tmp_path / "pty.png"
    plotter = popen("simulate", "--pty", "--time-scale", "0.1", "-o", png)
    try:
        port = plotter.stdout.readline().strip()
        journal = Path(f"{gcode}.journal")
        send = popen("send", gcode, "--port", port, "--quiet")
        wait_for_records(journal, 40)  # well into the job
        send.send_signal(signal.SIGTERM)
        _, err = send.communicate(timeout=60)
        assert send.returncode == 128 + signal.SIGTERM, err
        assert "Traceback" not in err
        summary = [line for line in err.splitlines() if line.startswith("stopped: the pen is up; ")]
        assert len(summary) == 1 and f"go on with: strokebot send --resume {journal} --port {port}" in summary[0]
        assert err.strip().splitlines()[-1] == "strokebot: stopped by SIGTERM"
        assert read_journal(journal).first_unacknowledged() <= LINES
        resumed = subprocess.run([*STROKEBOT, "send", "--resume", journal, "--port", port, "--quiet"],
                                 capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        assert read_journal(journal).first_unacknowledged() == LINES + 1
    finally:
        plotter.send_signal(signal.SIGTERM)
        _, plotter_err = plotter.communicate(timeout=30)
    assert plotter.returncode == 0, plotter_err
    assert "20 strokes" in plotter_err or "21 strokes" in plotter_err  # the stopped one may be in two parts
    assert png.stat().st_size > 0


def test_sighup_stops_send_with_the_pen_up_and_its_own_exit_status(gcode):
    journal = Path(f"{gcode}.journal")
    send = popen("send", gcode, "--port", "sim://?time_scale=0.1", "--quiet")
    wait_for_records(journal, 30)
    send.send_signal(signal.SIGHUP)
    _, err = send.communicate(timeout=60)
    assert send.returncode == 128 + signal.SIGHUP, err
    assert any(line.startswith("stopped: the pen is up; ") for line in err.splitlines())
    assert err.strip().splitlines()[-1] == "strokebot: stopped by SIGHUP"
    resumed = subprocess.run([*STROKEBOT, "send", "--resume", journal, "--port", "sim://", "--quiet"],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert read_journal(journal).first_unacknowledged() == LINES + 1


def test_sigterm_during_a_fit_leaves_no_file_behind(small_photo, tmp_path):
    out = tmp_path / "out"
    fit = popen("fit", small_photo, "-o", out, "--strokes", "20", "--iters", "100000", "--size", "32",
                "--device", "cpu")
    seen = ""
    while "fitting" not in seen:  # the progress bar: the fit is running
        char = fit.stderr.read(1)
        assert char, "fit ended before it started fitting"
        seen += char
    fit.send_signal(signal.SIGTERM)
    _, err = fit.communicate(timeout=60)
    assert fit.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []
    assert list(tmp_path.iterdir()) in ([], [out])
