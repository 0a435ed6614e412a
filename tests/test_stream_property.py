"""Random programs streamed to the simulated board through random faults, then resumed until done.

Whatever goes wrong on the way (the board hangs up or freezes, sends garbage, refuses a line with
error:N, raises an alarm, answers slowly, the sender is stopped by a signal) the job goes on from its journal, on a board powered up again; at the end,
read from the boards' executed-line logs, every drawing line of the program ran exactly once and no move
of any board left the work area. Each seed is one case, the same on every run.
"""

from __future__ import annotations

import os
import random
import signal
from collections import Counter
from pathlib import Path

import pytest

from calibration import default_profile, load_profile
from gcode.dialects import dialect_for
from robot import StreamError, StreamInterrupted, clean_line
from robot.boards.sim_url import NAMED_SIMULATORS
from robot.firmware.marlin_protocol import command_of, marlin_code
from robot.host.journal import Journal, JournalHeader, read_journal
from robot.host.stopping import stop_on_signals
from strokebot.jobs import resume_plan, send_program
from tests.test_robot_resume import drawing_lines

MARLIN_PATH = Path(__file__).resolve().parent.parent / "examples" / "profiles" / "a4_marlin_servo.toml"
MARLIN = load_profile(MARLIN_PATH)
HEADER = JournalHeader(program="/plots/random.gcode", sha256="0" * 64, profile=None)
TIMEOUT_S = 0.5  # a frozen board is given up on after this
ATTEMPTS = 8  # one faulty attempt in two: a job is done long before this
GRBL_ERRORS = (1, 2, 3, 9, 20, 22, 24, 25, 33)


def random_program(rng: random.Random, profile) -> list[str]:
    """Strokes of straight lines and arcs anywhere in the work area, with pen changes and comments between."""
    dialect, area = dialect_for(profile), profile.work_area
    margin = 12.0  # an arc's bulge stays inside

    def point() -> tuple[float, float]:
        return rng.uniform(margin, area.width_mm - margin), rng.uniform(margin, area.height_mm - margin)

    lines = ["G21", "G90", *dialect.pen_up]
    for stroke in range(rng.randint(2, 6)):
        x, y = point()
        lines += [dialect.comment(f"stroke {stroke}"), f"G0 X{x:.3f} Y{y:.3f}", *dialect.pen_down]
        lines.append(f"G1 F{rng.choice((1500, 3000))}")
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.2:  # a half circle of radius 3 to the side: stays within the margin
                dx, dy = rng.choice(((6.0, 0.0), (0.0, 6.0), (-6.0, 0.0), (0.0, -6.0)))
                if margin <= x + dx <= area.width_mm - margin and margin <= y + dy <= area.height_mm - margin:
                    lines.append(f"G{rng.choice((2, 3))} X{x + dx:.3f} Y{y + dy:.3f} I{dx / 2:.3f} J{dy / 2:.3f}")
                    x, y = x + dx, y + dy
                    continue
            x, y = point()
            lines.append(f"G1 X{x:.3f} Y{y:.3f}")
        lines += dialect.pen_up
    return lines + ["G0 X0 Y0"]


class SignalAt(Journal):
    """A journal that sends its own process ``signum`` when line ``at`` is acknowledged: a kill mid-stream."""

    at: int | None = None
    signum: int = signal.SIGTERM

    def acknowledge(self, line_no: int) -> None:
        super().acknowledge(line_no)
        if line_no == self.at:
            self.at = None
            os.kill(os.getpid(), self.signum)


def random_fault(rng: random.Random, lines: int, marlin: bool) -> tuple[str, int | None, int]:
    """One attempt's fault: (sim:// query, line whose acknowledgement brings a signal, that signal)."""
    kinds = ["none", "disconnect", "silent", "garbage", "error", "slow", "signal", "noise" if marlin else "alarm"]
    kind = rng.choice(kinds)
    k = rng.randint(1, max(1, lines))
    if kind in ("disconnect", "silent", "garbage"):
        return f"{kind}_after_lines={k}&seed={rng.randrange(1000)}", None, 0
    if kind == "alarm":  # a limit switch trips: GRBL stops and loses its queue; the streamer resets it
        return f"alarm_on_line={k}", None, 0
    if kind == "error":
        return f"error_on_line={k}&error_code={rng.choice(GRBL_ERRORS)}", None, 0
    if kind == "slow":
        return "ack_delay_s=0.002", None, 0
    if kind == "noise":  # Marlin's checksums catch it and the line is sent again
        return f"corrupt_rate=0.002&seed={rng.randrange(1000)}", None, 0
    if kind == "signal":
        return "", k, rng.choice((signal.SIGTERM, signal.SIGINT, signal.SIGHUP))
    return "", None, 0


def executed_program_lines(board, plan, profile, marlin: bool) -> list[int]:
    """The program line numbers of what the board executed, matched in order to what the stream sent.

    A line the board refused (error:N) is not in its log, nor one a stop cut short: the match skips them.
    """
    payload = marlin_code if marlin else clean_line
    sent = [(payload(line), number) for line, number in zip(plan.lines, plan.program_lines) if payload(line)]
    pen_up = {payload(line) for line in dialect_for(profile).pen_up}
    executed = [entry.text for entry in board.execution_log if entry.number not in board.cut_short]
    if marlin:  # numbered lines only (not the handshake), without their numbers and checksums
        executed = [command_of(line) for line in executed if line.startswith("N")]
    texts = [text for text, _ in sent]
    numbers, at = [], 0
    for text in executed:
        if text not in texts[at:]:  # the pen lifted outside the stream, after a fault
            assert text in pen_up, f"the board ran {text!r}, which the stream did not send"
            continue
        at = texts.index(text, at)
        if sent[at][1] is not None:
            numbers.append(sent[at][1])
        at += 1
    return numbers


def inside(point: tuple[float, float], profile) -> bool:
    area, slack = profile.work_area, 1e-6
    return -slack <= point[0] <= area.width_mm + slack and -slack <= point[1] <= area.height_mm + slack


@pytest.mark.parametrize(("profile", "protocol"), [(default_profile(), "grbl-counting"), (MARLIN, "marlin")],
                         ids=["grbl", "marlin"])
@pytest.mark.parametrize("seed", range(25))
def test_a_job_through_random_faults_draws_every_line_exactly_once_and_stays_in_the_area(
    tmp_path, profile, protocol, seed
):
    rng = random.Random(seed)
    lines = random_program(rng, profile)
    marlin = protocol == "marlin"
    path = tmp_path / "random.gcode.journal"
    runs: Counter[int] = Counter()
    boards = []
    for attempt in range(ATTEMPTS):
        query, signal_at, signum = random_fault(rng, len(lines), marlin) if attempt % 2 == 0 else ("", None, 0)
        name = f"property-{protocol}-{seed}-{attempt}"
        board_of = f"firmware=marlin&profile={MARLIN_PATH}&" if marlin else ""
        with SignalAt.reopen(path) if path.exists() else SignalAt.create(path, HEADER) as journal:
            journal.at, journal.signum = signal_at, signum
            plan = resume_plan(lines, journal, profile)
            try:
                with stop_on_signals():
                    report, _ = send_program(lines, f"sim://?{board_of}name={name}&{query}", profile, progress=False,
                                             protocol=protocol, journal=journal, timeout_s=TIMEOUT_S)
            except (StreamError, StreamInterrupted):
                report = None
        board = NAMED_SIMULATORS.pop(name)
        boards.append(board)
        runs += Counter(executed_program_lines(board, plan, profile, marlin))
        if report is not None and report.ok:
            break
    else:
        pytest.fail(f"the job was not done after {ATTEMPTS} attempts")
    assert read_journal(path).first_unacknowledged() == len(lines) + 1
    drawn = drawing_lines(lines, profile)
    assert {line_no: runs[line_no] for line_no in drawn} == dict.fromkeys(drawn, 1)
    assert all(inside(point, profile) for board in boards for stroke in board.strokes for point in stroke)
