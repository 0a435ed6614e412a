"""A virtual Marlin 2 pen plotter: Marlin's host protocol on the shared board model of :mod:`robot.boards.board`.

* A line may carry a line number and a checksum, ``N<n> <command>*<checksum>``, the checksum being the XOR
  of every byte before ``*``. A numbered line must be numbered one more than the last and its checksum
  must match, or Marlin answers ``Error:<why>, Last Line: <last>``, ``Resend: <last + 1>`` and ``ok`` and
  executes nothing; the host then sends that line again. ``M110 N<k>`` makes k the last number. A line
  without a number is taken as it is. ``;`` starts a comment; parentheses are not comments.
* Each line is answered ``ok`` once it has been processed (a move: once queued in the planner; ``M0``:
  once the operator has let the program go on). A command Marlin does not know is answered
  ``echo:Unknown command: "<command>"`` and ``ok``, and nothing happens.
* While a command waits (for room in the planner, for the machine to stand still) Marlin says
  ``busy: processing`` every 2 machine seconds, and ``busy: paused for user`` while an ``M0`` waits; the
  keepalives need motion timing (``time_scale`` > 0), except that a pause is announced at once in any case.
* ``M108`` (go on after ``M0``) and ``M410`` (quick stop: queued moves are dropped) act the moment their
  line has arrived, as Marlin's emergency parser makes them; then they are executed like any line.
* ``M114`` reports the position, ``M105`` a cold hot end (there is none), ``M400`` waits for the moves.
* The power-up banner starts with ``start``. Moves are not checked against the work area (Marlin's
  software endstops clamp them silently; this model draws them as written).
"""

from __future__ import annotations

import dataclasses
import re
from collections import deque

from calibration import MachineProfile
from gcode.dialects import flavour_for
from gcode.reader import Event, Flavour, GcodeError, ModalState, Pause
from robot.boards.board import SYNC, BoardSimulator
from robot.boards.planner import Segment
from robot.firmware.marlin_protocol import MAX_CMD_SIZE, checksum, command_of, command_word

MARLIN_BANNER = b"start\necho:Marlin 2.1.2 (strokebot simulator)\n"
KEEPALIVE_S = 2.0  # Marlin's default host keepalive interval (M113), in machine seconds

ERR_LINE_NUMBER = "Line Number is not Last Line Number+1, Last Line: "
ERR_CHECKSUM = "checksum mismatch, Last Line: "
ERR_NO_CHECKSUM = "No Checksum with line number, Last Line: "
ERR_NO_LINE_NUMBER = "No Line Number with checksum, Last Line: "

_LINE_NUMBER = re.compile(r"N(-?\d*)\s*")
_LEADING_NUMBER = re.compile(r"\s*-?\d*")


def _leading_int(text: str) -> int:
    """What C's strtol reads at the start of ``text`` (0 when there is no number)."""
    digits = _LEADING_NUMBER.match(text).group().strip()
    return int(digits) if digits not in ("", "-") else 0


class MarlinSimulator(BoardSimulator):
    """A virtual Marlin 2 board: bytes in, bytes out; executes lines through gcode.reader (Marlin flavour).

    What it drew, executed and received is kept as :class:`~robot.boards.board.BoardSimulator` says;
    ``executed_lines`` holds the lines as sent, line numbers and checksums included. ``last_line_number``
    is the last line number Marlin accepted; ``line_errors`` counts the lines it asked to have resent.
    """

    def _flavour(self, profile: MachineProfile) -> Flavour:
        return dataclasses.replace(flavour_for(profile), firmware="marlin")

    def _power_up(self) -> None:
        self.last_line_number = 0
        self.line_errors = 0
        self._raw = bytearray()  # the line the main loop is taking out of the receive buffer
        self._arriving = bytearray()  # the line arriving from the host, for the emergency parser
        self._busy_reason: str | None = None
        self._busy_next_t: float | None = None  # clock time of the next keepalive

    def banner(self) -> bytes:
        return MARLIN_BANNER

    # ------------------------------------------------------------------------------------- arrival

    def _receive_byte(self, byte: int, now: float) -> None:
        if byte in (0x0A, 0x0D):
            self._emergency(command_of(self._arriving.decode("ascii", "replace")), now)
            self._arriving.clear()
        elif len(self._arriving) < MAX_CMD_SIZE:
            self._arriving.append(byte)
        self._buffer_byte(byte, now)

    def _emergency(self, command: str, now: float) -> None:
        """Marlin's emergency parser: M108 and M410 act as soon as they arrive, ahead of the queue."""
        word = command_word(command)
        if word == "M108" and self._held:
            self._held = False
            self._run(now)
        elif word == "M410":
            self._quick_stop()

    def _quick_stop(self) -> None:
        """Drop every queued move and the moves still to come of the line in progress, which is then answered;
        the position is where the tool stopped."""
        job = self._job
        self._stop_motion()
        x, y, z = self.position
        self._interpreter.state = dataclasses.replace(self._interpreter.state, x_mm=x, y_mm=y, z_mm=z)
        if job is not None:
            job.steps = deque(step for step in job.steps if not isinstance(step, Segment))
            if job.steps:
                self._job = job
            else:
                self._finish(job)

    # ----------------------------------------------------------------------------------------- lines

    def _take(self, byte: int) -> None:
        if len(self._raw) < MAX_CMD_SIZE - 1:
            self._raw.append(byte)

    def _end_of_line(self) -> None:
        raw = self._raw.decode("ascii", "replace")
        self._raw.clear()
        text = raw.split(";", 1)[0].strip()
        if not text:
            return  # Marlin skips empty lines without a word
        number = self._count_line()
        if number == self.faults.error_on_line:
            self._answer(_unknown(command_of(text)), number)
            return
        command = self._checked_command(text, number)
        if command is not None:
            self._execute(command, raw, number)

    def _checked_command(self, text: str, number: int) -> str | None:
        """The command of a line whose number and checksum are right; None after asking for a resend."""
        star = text.rfind("*")
        found = _LINE_NUMBER.match(text)
        if found is None:
            if star >= 0:
                return self._resend(ERR_NO_LINE_NUMBER, number)
            return text
        line_number = _leading_int(found.group(1))
        if line_number != self.last_line_number + 1 and "M110" not in text.upper():  # M110 sets the number
            return self._resend(ERR_LINE_NUMBER, number)
        if star < 0:
            return self._resend(ERR_NO_CHECKSUM, number)
        if _leading_int(text[star + 1 :]) != checksum(text[:star]):
            return self._resend(ERR_CHECKSUM, number)
        self.last_line_number = line_number
        return text[found.end() : star].strip()

    def _resend(self, why: str, number: int) -> None:
        """Refuse a line that came wrong and ask for it again, as Marlin's gcode_line_error does."""
        self.line_errors += 1
        last = self.last_line_number
        self._answer(f"Error:{why}{last}\nResend: {last + 1}\nok\n".encode("ascii"), number)

    def _execute(self, command: str, raw: str, number: int) -> None:
        name = command_word(command)
        if name in ("M108", "M410", "M110"):  # M108 and M410 acted when they arrived
            own = re.search(r"M0*110\s*N(-?\d+)", command, re.IGNORECASE)  # M110's own N word
            if own:
                self.last_line_number = int(own.group(1))
            self._start_job(number, raw, b"ok\n", [], self._interpreter.state)
        elif name == "M105":
            self._start_job(number, raw, b"ok T:20.00 /0.00 B:20.00 /0.00 @:0 B@:0\n", [], self._interpreter.state)
        elif name == "M114":
            s = self._interpreter.state
            report = f"X:{s.x_mm:.2f} Y:{s.y_mm:.2f} Z:{s.z_mm:.2f} E:0.00 Count X:0 Y:0 Z:0\nok\n"
            self._start_job(number, raw, report.encode("ascii"), [], s)
        else:
            before = dataclasses.replace(self._interpreter.state)
            try:
                events = self._interpreter.execute(command)
            except GcodeError:
                self._answer(_unknown(command), number)
                return
            self._start_job(number, raw, b"ok\n", events, before)

    def _steps(self, events: list[Event], before: ModalState) -> list[Segment | Event | str]:
        """As on GRBL, except that M0 is answered only once the operator lets the program go on."""
        steps: list[Segment | Event | str] = []
        for step in super()._steps(events, before):
            steps.append(step)
            if isinstance(step, Pause):
                steps.append(SYNC)
        return steps

    # --------------------------------------------------------------------------------------- keepalive

    def _run(self, now: float) -> None:
        super()._run(now)
        self._keepalive(now)

    def _keepalive(self, now: float) -> None:
        """``busy: <reason>`` every KEEPALIVE_S machine seconds while a command waits; a pause at once too."""
        reason = None if self._job is None else "paused for user" if self._held else "processing"
        interval = KEEPALIVE_S * self.settings.time_scale
        if reason != self._busy_reason:
            self._busy_reason = reason
            self._busy_next_t = now + interval if reason is not None and interval > 0 else None
            if reason == "paused for user":
                self._emit(b"busy: paused for user\n")
        while self._busy_next_t is not None and self._busy_next_t <= now:
            self._emit(f"busy: {reason}\n".encode("ascii"))
            self._busy_next_t += interval

    def _due_times(self) -> list[float | None]:
        return [*super()._due_times(), self._busy_next_t]


def _unknown(command: str) -> bytes:
    return f'echo:Unknown command: "{command}"\nok\n'.encode("ascii", "replace")
