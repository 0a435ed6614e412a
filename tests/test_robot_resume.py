"""A job cut short and resumed from its journal, through real pseudo-terminals: nothing drawn twice, nothing lost."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from calibration import default_profile, load_profile
from gcode.dialects import dialect_for, flavour_for
from gcode.reader import GcodeInterpreter, Move
from gcode.stats import drawn_mm
from robot import Faults, PtyPlotter, SimSettings, StreamError, StreamInterrupted, clean_line, simulator_for
from robot.firmware.marlin_protocol import command_of, marlin_code
from robot.host.journal import Journal, JournalHeader, read_journal
from strokebot.jobs import resume_plan, send_program

TIMEOUT_S = 5.0
MARLIN = load_profile(Path(__file__).resolve().parent.parent / "examples" / "profiles" / "a4_marlin_servo.toml")
HEADER = JournalHeader(program="/plots/d.gcode", sha256="0" * 64, profile=None)


def drawing(profile, strokes: int = 8) -> list[str]:
    """A program in the profile's dialect: strokes of straight lines and arcs, with comments between."""
    dialect = dialect_for(profile)
    lines = ["G21", "G90", *dialect.pen_up]
    for i in range(strokes):
        x, y = 20.0 + 12.0 * i, 30.0
        lines += [dialect.comment(f"stroke {i}"), f"G0 X{x:.3f} Y{y:.3f}", *dialect.pen_down]
        lines += [f"G1 X{x:.3f} Y{y + 4 * k:.3f} F3000.000" for k in range(1, 6)]
        lines += [f"G2 X{x + 6:.3f} Y{y + 20:.3f} I3.000 J0.000", f"G3 X{x + 6:.3f} Y{y + 30:.3f} I0.000 J5.000"]
        lines += [f"G1 X{x + 2:.3f} Y{y + 40:.3f}", *dialect.pen_up]
    return lines + ["G0 X0.000 Y0.000"]


def drawing_lines(lines: list[str], profile) -> set[int]:
    """The program's pen-down G1/G2/G3 lines."""
    interpreter = GcodeInterpreter(flavour=flavour_for(profile))
    found = set()
    for line_no, line in enumerate(lines, start=1):
        if any(isinstance(e, Move) and e.pen_down and not e.rapid for e in interpreter.execute(line, line_no)):
            found.add(line_no)
    return found


def executed_program_lines(sim, plan_lines: list[str], program_lines: list[int | None], marlin: bool) -> list[int]:
    """The program line numbers of what the board executed, mapped back through what the stream sent."""
    payload = marlin_code if marlin else clean_line
    sent = [(payload(line), number) for line, number in zip(plan_lines, program_lines) if payload(line)]
    executed = sim.executed_lines
    if marlin:  # numbered lines only (not the handshake), without their numbers and checksums
        executed = [command_of(line) for line in executed if line.startswith("N")]
    assert executed == [text for text, _ in sent[: len(executed)]]  # the board ran the stream's lines, in order
    return [number for _, number in sent[: len(executed)] if number is not None]


def length_mm(strokes) -> float:
    return sum(math.dist(a, b) for a, b in segments(strokes))


def segments(strokes) -> list[tuple]:
    return [(a, b) for stroke in strokes for a, b in zip(stroke, stroke[1:])]


@pytest.mark.parametrize(("profile", "protocol"), [(default_profile(), "grbl-counting"), (MARLIN, "marlin")])
def test_a_job_cut_off_by_a_disconnect_resumes_and_draws_every_line_exactly_once(tmp_path, profile, protocol):
    lines = drawing(profile)
    marlin = protocol == "marlin"
    handshake = 2 if marlin else 0  # M110 N0 and M114 come before the program on Marlin
    cut = 40  # the board hangs up after its 40th line: in the middle of the fourth stroke
    path = tmp_path / "d.gcode.journal"

    first = simulator_for(profile, faults=Faults(disconnect_after_lines=cut + handshake))
    with PtyPlotter(first) as device:
        journal = Journal.create(path, HEADER)
        with pytest.raises(StreamError, match="lost the connection"):
            send_program(lines, device.port, profile, progress=False, protocol=protocol, journal=journal,
                         timeout_s=TIMEOUT_S)
        journal.close()
    assert first.pen_down  # it stopped in the middle of a stroke
    first_run = executed_program_lines(first, lines, list(range(1, len(lines) + 1)), marlin)

    journal = Journal.reopen(path)
    plan = resume_plan(lines, journal, profile)
    assert plan.start_line == read_journal(path).first_unacknowledged() > 1
    second = simulator_for(profile)  # a fresh board: powered up again at 0, 0
    with PtyPlotter(second) as device, journal:
        report, _ = send_program(lines, device.port, profile, progress=False, protocol=protocol,
                                 journal=journal, timeout_s=TIMEOUT_S)
    assert report.ok
    assert read_journal(path).first_unacknowledged() == len(lines) + 1
    second_run = executed_program_lines(second, plan.lines, plan.program_lines, marlin)

    runs = Counter(first_run) + Counter(second_run)
    assert {line_no: runs[line_no] for line_no in drawing_lines(lines, profile)} == dict.fromkeys(
        drawing_lines(lines, profile), 1
    )
    whole = simulator_for(profile)
    with PtyPlotter(whole) as device:
        assert send_program(lines, device.port, profile, progress=False, protocol=protocol)[0].ok
    assert segments(first.strokes) + segments(second.strokes) == segments(whole.strokes)
    assert len(first.strokes) + len(second.strokes) == len(whole.strokes) + 1  # one stroke in two halves


class CtrlCAt(Journal):
    """A journal whose job is interrupted (Ctrl-C) when line ``stop_at`` is acknowledged."""

    stop_at = 0

    def acknowledge(self, line_no: int) -> None:
        if line_no == self.stop_at:
            self.stop_at = 0  # once: the stop itself may record the line later
            raise KeyboardInterrupt
        super().acknowledge(line_no)


def test_a_job_stopped_with_ctrl_c_goes_back_to_where_the_machine_stood_and_leaves_nothing_out(tmp_path):
    profile = default_profile()
    lines = drawing(profile, strokes=6)
    path = tmp_path / "j"
    # Moves take time: when line 30 is acknowledged GRBL still has moves queued; the reset drops them.
    sim = simulator_for(profile, SimSettings(time_scale=0.05))
    with PtyPlotter(sim) as device:
        journal = CtrlCAt.create(path, HEADER)
        journal.stop_at = 30
        with pytest.raises(StreamInterrupted) as info:
            send_program(lines, device.port, profile, progress=False, journal=journal, timeout_s=TIMEOUT_S)
        journal.close()
        stopped = info.value.report.stopped_at_mm
        assert stopped is not None and not sim.pen_down
        state = read_journal(path)
        rewind = path.read_text().splitlines()[-1]
        assert rewind.startswith("rewind ")
        on_line = int(rewind.split()[1])  # taken back to the line the machine was on
        assert not state.acknowledged & set(range(on_line, len(lines) + 1))

        with Journal.reopen(path) as journal:
            report, _ = send_program(lines, device.port, profile, progress=False, journal=journal,
                                     timeout_s=TIMEOUT_S)
        assert report.ok
    whole = simulator_for(profile)
    with PtyPlotter(whole) as device:
        send_program(lines, device.port, profile, progress=False)
    drawn = set(segments(sim.strokes))
    assert set(segments(whole.strokes)) <= drawn  # every segment of the drawing was drawn
    redrawn_mm = length_mm(sim.strokes) - length_mm(whole.strokes)
    # every line before it ran (line 30's record, cut off by the Ctrl-C, too): only what was drawn of it again
    assert state.first_unacknowledged() == on_line
    assert 0 <= redrawn_mm <= drawn_mm(lines, [on_line], profile) + 1e-6
