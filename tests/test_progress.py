"""Progress that fits the place: plain lines off a terminal, an ETA at the machine's pace, counts that agree."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import tqdm.std

import robot.host.progress
import strokeopt.progress
from calibration import default_profile, load_profile
from gcode.dialects import dialect_for
from gcode.stats import elapsed_seconds
from robot import GrblStreamer, MarlinStreamer
from robot.host.progress import LogLines, StreamProgress, machine_eta_s, progress_bar

TIMEOUT_S = 5.0
MARLIN = Path(__file__).resolve().parent.parent / "examples" / "profiles" / "a4_marlin_servo.toml"
STATE = re.compile(r"(?:ETA \d+:\d\d \| |, )([A-Z][a-z]+(?::\d)?)(?: X| *\])")  # the machine's state in a line


def program(strokes: int) -> list[str]:
    """A grbl-servo program as the emitter writes it, a comment after every stroke."""
    lines = ["G21", "G90", "M5", "G4 P0.150"]
    for i in range(strokes):
        x = 10.0 + 0.5 * i
        lines += [f"G0 X{x:.3f} Y20.000", "M3 S1000", "G4 P0.150", f"G1 X{x:.3f} Y120.000 F3000.000", "M5",
                  "G4 P0.150", f"(stroke {i} done)"]
    return lines + ["G0 X0.000 Y0.000", "M2"]


def shown_states(text: str) -> list[str]:
    """The machine's state in each progress line that shows one, repeats left out."""
    states: list[str] = []
    for line in text.splitlines():
        match = STATE.search(line)
        if match and (not states or states[-1] != match.group(1)):
            states.append(match.group(1))
    return states


@pytest.fixture
def every_display_a_line(monkeypatch):
    """Off a terminal, a line at every refresh instead of one every few seconds: each state can be seen."""
    monkeypatch.setattr(robot.host.progress, "LOG_INTERVAL_S", 0.0)


# ------------------------------------------------------------------------------------------ off a terminal


def test_a_stream_to_a_log_writes_plain_lines_without_carriage_returns_or_ansi_codes(capsys):
    lines = program(20)
    with GrblStreamer("sim://?time_scale=0.001", timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=True, elapsed_s=elapsed_seconds(lines, default_profile()))
    assert report.ok
    shown = capsys.readouterr().err
    assert "\r" not in shown and "\x1b" not in shown
    written = shown.splitlines()
    assert 2 <= len(written) <= 3  # the start, perhaps one 5 s later on a slow machine, and the end
    assert written[-1].startswith(f"streaming 100%|##########| {len(lines)}/{len(lines)} lines [")
    assert re.search(r"ETA 0:00 \| (Run|Idle) X\d+\.\d Y\d+\.\d\]$", written[-1])  # the last status


def test_off_a_terminal_a_line_is_written_every_interval_and_one_at_the_end(monkeypatch):
    log = io.StringIO()
    now = [0.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: now[0])  # tqdm's clock
    bar = LogLines(total=100, file=log, desc="fitting", interval_s=5.0)
    for _ in range(100):
        now[0] += 0.2  # 20 s in all
        bar.update(1)
        bar.set_postfix(loss="0.5")  # refreshes each time; the interval still holds
    bar.close()
    written = log.getvalue()
    assert "\r" not in written and "\x1b" not in written
    lines = written.splitlines()
    assert len(lines) == 5  # at 0, 5, 10 and 15 s, and the end
    assert lines[0].startswith("fitting:   0%") and lines[-1].startswith("fitting: 100%|##########| 100/100")


def test_on_a_terminal_the_bar_is_tqdm_redrawn_in_place():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for make in (progress_bar, strokeopt.progress.progress_bar):
        terminal, log = Terminal(), io.StringIO()
        on_terminal, in_log = make(total=3, file=terminal), make(total=3, file=log)
        assert not isinstance(on_terminal, LogLines | strokeopt.progress.LogLines)
        assert isinstance(in_log, LogLines | strokeopt.progress.LogLines)
        on_terminal.update(3)
        on_terminal.close()
        in_log.close()
        assert "\r" in terminal.getvalue() and "\r" not in log.getvalue()


def test_a_disabled_progress_writes_nothing_anywhere():
    log = io.StringIO()
    for make in (progress_bar, strokeopt.progress.progress_bar):
        bar = make(range(5), enabled=False, file=log)
        assert list(bar) == list(range(5))
    assert log.getvalue() == ""


# ----------------------------------------------------------------------------------- the machine's pace


def test_the_eta_is_the_plan_left_at_the_machine_s_pace():
    assert machine_eta_s(plan_left_s=1800.0, real_s=2.0, plan_s=200.0) == pytest.approx(18.0)  # 100 times faster
    assert machine_eta_s(plan_left_s=600.0, real_s=66.0, plan_s=60.0) == pytest.approx(660.0)  # 10 % slower
    assert machine_eta_s(plan_left_s=600.0, real_s=1.0, plan_s=0.0) == 600.0  # no plan covered: the plan's clock


def test_a_board_a_hundred_times_faster_than_the_plan_shows_seconds_not_the_plan_s_minutes():
    plan = [10.0 * (i + 1) for i in range(200)]  # 10 s of plan per line: 33 min in all
    now = [0.0]
    progress = StreamProgress(len(plan), plan, enabled=False, clock=lambda: now[0])
    etas = []
    for index in range(len(plan)):
        now[0] += 0.1  # the board takes 0.1 s for each 10 s line
        progress.advance(index)
        etas.append(progress.eta_s(index))
    assert etas[0] == pytest.approx(plan[-1] - plan[0])  # before the pace is known: the plan's
    assert etas[10] == pytest.approx((plan[-1] - plan[10]) / 100)  # 19 s, not 31 min
    assert etas[-1] == 0.0


def test_time_waiting_for_the_operator_does_not_slow_the_pace():
    plan = [10.0 * (i + 1) for i in range(100)]
    now = [0.0]
    progress = StreamProgress(len(plan), plan, enabled=False, clock=lambda: now[0])
    for index in range(50):
        now[0] += 10.0  # the board keeps to the plan
        progress.advance(index)
    progress.paused()
    now[0] += 600.0  # ten minutes changing pens
    progress.resumed()
    now[0] += 10.0
    progress.advance(50)
    assert progress.eta_s(50) == pytest.approx(plan[-1] - plan[50])


def test_a_stream_of_minutes_to_a_fast_board_ends_with_etas_of_seconds(capsys, every_display_a_line):
    lines = program(60)
    plan = elapsed_seconds(lines, default_profile())
    assert plan[-1] > 120.0  # minutes of plotting by the plan; the board runs them 200 times faster
    with GrblStreamer("sim://?time_scale=0.005", timeout_s=TIMEOUT_S) as streamer:
        assert streamer.stream(lines, progress=True, elapsed_s=plan).ok
    shown = [re.search(r" (\d+)/\d+ lines .*ETA (\d+):(\d\d)", line) for line in capsys.readouterr().err.splitlines()]
    etas = [(int(m[1]), 60 * int(m[2]) + int(m[3])) for m in shown if m]
    later = [(done, eta_s) for done, eta_s in etas if done >= len(lines) // 2]  # the pace has long been measured
    assert later
    for done, eta_s in later:  # the line shown done may run ahead of the machine by what GRBL has queued
        plan_left_s = plan[-1] - plan[max(done - 20, 0)]
        assert eta_s <= plan_left_s / 10 + 1, (done, eta_s, plan_left_s)


# ----------------------------------------------------------------------------------------- pen changes


def test_after_a_pen_change_the_bar_shows_the_grbl_board_running_again(capsys, every_display_a_line):
    lines = program(2) + ["M0 (change to pen red)"] + program(2)
    asked: list[str] = []
    with GrblStreamer("sim://", timeout_s=TIMEOUT_S) as streamer:
        assert streamer.stream(lines, progress=True, on_pause=asked.append).ok
    assert asked == ["change to pen red"]
    states = shown_states(capsys.readouterr().err)
    held = max(i for i, state in enumerate(states) if state.startswith("Hold"))
    assert "Run" in states[held + 1 :], states  # perhaps Idle first: GRBL's state at the cycle start (~)


def test_after_a_pen_change_the_bar_shows_the_marlin_board_running_again(capsys, every_display_a_line):
    dialect = dialect_for(load_profile(MARLIN))
    lines = ["G21", "G90", *dialect.pen_down, "G1 X10 Y10 F3000", *dialect.pen_up, "M0 change to pen red",
             *dialect.pen_down, "G1 X20 Y10", *dialect.pen_up]
    with MarlinStreamer(f"sim://?firmware=marlin&profile={MARLIN}", timeout_s=TIMEOUT_S) as streamer:
        assert streamer.stream(lines, progress=True, on_pause=lambda message: None).ok
    states = shown_states(capsys.readouterr().err)
    assert "Paused" in states and states[-1] == "Run", states  # not still "Paused" once M108 let it go on


# ------------------------------------------------------------------------------------------------ counts


def test_comments_are_skipped_not_acknowledged_and_acknowledged_never_exceeds_sent():
    lines = ["(a drawing)", "", *program(3), "; the end"]
    comments = sum(1 for line in lines if not line or line.startswith(("(", ";")))
    with GrblStreamer("sim://", timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok
    assert report.lines_skipped == comments == 6
    assert report.lines_sent == report.lines_acknowledged == len(lines) - comments
    assert report.to_dict()["lines_skipped"] == comments


def test_skipped_lines_still_reach_the_journal_callback():
    lines = ["G21", "(pen black)", "G0 X1", ""]
    done: list[int] = []
    with GrblStreamer("sim://", timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False, on_ack=done.append)
    assert sorted(done) == [0, 1, 2, 3]  # a resume starts after a comment, not at it
    assert (report.lines_sent, report.lines_acknowledged, report.lines_skipped) == (2, 2, 2)


def test_a_stream_cut_short_by_an_error_is_not_ok_and_its_counts_agree():
    lines = ["G21", "(next: a bad line)", "G99", "G0 X1", "(never reached)"]
    with GrblStreamer("sim://", timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert not report.ok and [e["line_no"] for e in report.errors] == [3]
    assert report.lines_acknowledged + len(report.errors) <= report.lines_sent
    assert report.lines_acknowledged + report.lines_skipped < report.lines_total
