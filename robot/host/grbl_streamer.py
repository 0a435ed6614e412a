"""Stream G-code to a GRBL 1.1 board: character counting (the default) or send-response.

Character counting: the host keeps the byte length of every line it has sent and GRBL has not yet
answered; a new line goes out only while all of them together still fit GRBL's serial receive buffer
(127 bytes). Each ``ok`` or ``error:N`` answers the oldest line. This keeps the board's buffer full without
ever overflowing it. Send-response sends a line only once the one before has been answered: slower, but it
needs nothing from the board's buffer.

While lines are out the streamer asks ``?`` about twice a second; the state and position go to the
progress bar, and a board that runs (a long move) may take longer than ``timeout_s`` to answer a line. A
board that neither answers nor runs for ``timeout_s`` has stopped: StreamError, with its status.

A program pause (``M0``/``M1``, e.g. a multi-pen drawing's pen change) stops the sending: nothing after it
goes out until the board has paused (status ``Hold``), the operator has been asked (``on_pause``), and a
cycle start (``~``) has taken the board out of Hold again.

Faults: ``error:N`` stops the sending; the lines already in GRBL's buffer are still answered, then the pen
is lifted. ``ALARM:N`` stops everything: GRBL ignores all input after a limit alarm until it is reset, so the
streamer resets it, unlocks it with ``$X`` and lifts the pen; the lines in its buffer are lost. Ctrl-C: a
feed hold (``!``) stops the machine, then a soft reset drops what is queued (a machine that stands still
keeps its position and raises no alarm) and the pen-up lines are sent; GRBL takes no G-code line during a
hold, so the pen goes up after the reset, not before it.

Connecting never resets a board in motion (GRBL answers that with ALARM:3: the position is no longer
certain). The streamer asks ``?`` first (again after a banner: a board that resets when its port is opened
loses what came while it booted; after a soft reset if the board stays silent, as GRBL does after a limit
alarm, standing still) and acts on the state. Idle: a soft reset, safe standing still, then an
empty line to sync on. Run, Jog or Hold:1 (the moves a killed sender queued, a hold still decelerating):
wait until the machine stands, as long as its position keeps changing. Alarm: refused, unless ``unlock``
(reset, then ``$X``). Hold:0 (a feed hold a stopped sender left): refused, unless ``reset`` (the reset
drops what is queued and keeps the position). Check (a check stopped midway): left with ``$C``. An alarm
raised by the streamer's own reset is cleared with ``$X`` without asking.

Check mode (:meth:`GrblStreamer.check`): ``$C``, then the lines with the same character counting, but an
error does not stop the sending: GRBL parses every line, moves nothing, and the report lists every line it
refused. ``$C`` again leaves check mode (GRBL resets itself).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from gcode.reader import GcodeError, parse_words, strip_comment
from robot.firmware.grbl_codes import alarm_meaning, error_meaning
from robot.firmware.grbl_status import MachineStatus, parse_status
from robot.host.serial_port import StreamError
from robot.host.stream_base import StreamJob, StreamReport, Streamer

_NOT_IN_A_LINE = frozenset("?!~\x18")  # realtime commands: GRBL acts on them at once, wherever they appear
STATUS_INTERVAL_S = 0.5  # how often to ask '?' while streaming, for the progress bar
STATUS_WAIT_S = 1.0  # how long to wait for the answer to '?' once the board has stopped answering lines
STATUS_POLL_S = 0.1  # how often to ask '?' while waiting for the machine (GRBL: <= 5-10 Hz)
SETTLE_TIMEOUTS = 60  # a board found running a previous sender's moves may take this many timeout_s to stop
MOVING_STATES = ("Run", "Jog", "Home", "Hold:1")  # the machine moves: never reset it now (ALARM:3)


def clean_line(line: str) -> str:
    """The part of a G-code line that GRBL keeps: comments and all whitespace removed, upper case."""
    code, _ = strip_comment(line)
    return code


def is_program_pause(code: str) -> bool:
    """True when a cleaned line holds M0 or M1 (also written M00, M01), on which GRBL waits for cycle start."""
    try:
        words = parse_words(code)
    except GcodeError:
        return False  # GRBL will reject the line: no pause follows
    return any(letter == "M" and value in (0.0, 1.0) for letter, value in words)


@dataclass
class _Flow(StreamJob):
    """GRBL's bookkeeping: lines sent and not yet answered (index, bytes), where sending is, the last status."""

    outstanding: deque[tuple[int, int]] = field(default_factory=deque)
    in_buffer: int = 0  # bytes sent and not yet answered: what GRBL's receive buffer may hold
    next_index: int = 0
    stopping: bool = False  # an error:N arrived: send nothing more
    alarmed: bool = False  # an ALARM:N arrived and the board was recovered: the stream is over
    progress_t: float = 0.0  # when the board last showed progress: an answer, or a status saying it runs
    next_status_t: float = 0.0  # when to ask '?' next
    status: MachineStatus | None = None  # the last status report


class GrblStreamer(Streamer):
    """Streams G-code lines to a GRBL 1.1 board with character counting, or with send-response if asked.

    ``rx_buffer_bytes`` is GRBL's receive buffer (127 on an Arduino); ``pen_up`` the machine's pen-up lines
    (``M5`` for the default grbl-servo dialect). ``unlock``: a board found in alarm is unlocked with ``$X``
    (else StreamError); ``reset``: a board found in a feed hold is soft-reset (else StreamError).
    ``on_notice`` is told, in a sentence, what the streamer waits for while connecting.
    """

    firmware = "GRBL"
    Job = _Flow

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        timeout_s: float = 10.0,
        rx_buffer_bytes: int = 127,
        send_response: bool = False,
        pen_up: Sequence[str] = ("M5",),
        unlock: bool = False,
        reset: bool = False,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.rx_buffer_bytes = rx_buffer_bytes
        self.send_response = send_response
        self.unlock = unlock
        self.reset = reset
        self.on_notice = on_notice
        self._checking = False  # the board is in check mode ($C)
        super().__init__(port, baudrate, timeout_s, pen_up)

    # ------------------------------------------------------------------------------------ connection

    def _connect(self) -> None:
        """Find the board's state and bring it to Idle without resetting it in motion, then sync on an empty line."""
        self._port.discard_input()
        found = self._settled(self._first_status())
        self._refuse_to_start(found)
        caused_alarm = self._soft_reset(b"\n$C\n" if found.state == "Check" else b"\x18")
        self._sync()
        if caused_alarm or (found.state == "Alarm" and self.unlock):
            self._unlock()
        if caused_alarm or found.state == "Alarm" or found.state.startswith("Hold"):
            self.queue_dropped_at = found

    def _first_status(self) -> MachineStatus:
        """The board's answer to ``?``, asked again after a banner (a board that has just booted lost it).

        A board that stays silent for half of ``timeout_s`` gets a soft reset: GRBL answers nothing but a
        reset after a hard or soft limit alarm, and stands still then (in motion it always answers ``?``).
        """
        started = time.monotonic()
        deadline = started + self.timeout_s
        woken = False
        while time.monotonic() < deadline:
            if not woken and time.monotonic() - started >= self.timeout_s / 2:
                self._port.write(b"\x18")
                woken = True
            self._port.write(b"?")
            ask_again = min(deadline, time.monotonic() + STATUS_WAIT_S)
            while (reply := self._port.read_line(ask_again)) is not None:
                if reply.startswith("<"):
                    return parse_status(reply)
                if reply.startswith("Grbl"):
                    break
        raise StreamError(f"no GRBL answered on {self.port} within {self.timeout_s:g} s")

    def _settled(self, status: MachineStatus) -> MachineStatus:
        """Wait while the machine moves (a killed sender's queue, a hold decelerating); its status once it stands.

        The wait goes on while the position changes, for at most SETTLE_TIMEOUTS times ``timeout_s``.
        """
        if status.state not in MOVING_STATES:
            return status
        if self.on_notice is not None:
            self.on_notice(f"GRBL on {self.port} is still moving ({status.state}): waiting for the board to finish "
                           "the moves a previous sender queued")
        started = moved = time.monotonic()
        while status.state in MOVING_STATES:
            waited = time.monotonic() - started
            if time.monotonic() - moved > self.timeout_s or waited > SETTLE_TIMEOUTS * self.timeout_s:
                raise StreamError(
                    f"GRBL on {self.port} was still {status.state} after {waited:.0f} s of waiting for the moves a "
                    f"previous sender queued (status: {status.report}); stop it (feed hold) and send again with "
                    "--reset"
                )
            time.sleep(STATUS_POLL_S)
            now = self._ask_status()
            if now is None:
                raise StreamError(f"GRBL on {self.port} stopped answering '?' while it was {status.state}")
            if now.position_mm != status.position_mm:
                moved = time.monotonic()
            status = now
        return status

    def _refuse_to_start(self, status: MachineStatus) -> None:
        """StreamError, in one line that says what to do, for a state a stream must not start from as it is."""
        state, port = status.state, self.port
        if state == "Alarm" and not self.unlock:
            raise StreamError(
                f"GRBL on {port} is in alarm (homing is enabled and the machine has not been homed, or an alarm "
                "or emergency stop happened): home it ($H), or check the machine and pass --unlock to clear the "
                "alarm with $X"
            )
        if state.startswith("Hold") and not self.reset:
            raise StreamError(
                f"GRBL on {port} is in a feed hold ({state}), perhaps left by a sender that was stopped: pass "
                "--reset to drop what it had queued (the machine keeps its position), or resume it with cycle "
                "start (~) from another program"
            )
        if state not in ("Idle", "Alarm", "Check") and not state.startswith("Hold"):
            raise StreamError(
                f"GRBL on {port} is in state {state} (status: {status.report}), which a stream does not start "
                "from: bring it to Idle (close the safety door, wake or reset it) and try again"
            )

    def _soft_reset(self, command: bytes) -> bool:
        """Send ``command`` (ctrl-x, or ``$C`` ending check mode) and wait for the banner; True if an alarm came."""
        self._port.write(command)
        deadline = time.monotonic() + self.timeout_s
        alarmed = False
        while (reply := self._port.read_line(deadline)) is not None:
            if reply.startswith("Grbl"):
                return alarmed
            alarmed = alarmed or reply.startswith("ALARM:")
        raise StreamError(f"GRBL on {self.port} did not come back within {self.timeout_s:g} s of a soft reset")

    def _sync(self) -> None:
        """Send an empty line and read up to its ``ok``: the next answer then belongs to what is sent next.

        Its ``ok`` comes after everything GRBL said before (a late banner, messages after a reset).
        """
        self._port.write(b"\n")
        deadline = time.monotonic() + self.timeout_s
        while (reply := self._port.read_line(deadline)) != "ok":
            if reply is None:
                raise StreamError(f"GRBL on {self.port} sent its banner but did not answer an empty line")

    def _unlock(self) -> None:
        """Clear an alarm with ``$X``."""
        answer = self._command("$X")
        if answer != "ok":
            raise StreamError(f"GRBL on {self.port} did not unlock with $X: {answer or 'no answer'}")

    def _wait_for_banner(self, deadline: float) -> bool:
        while (reply := self._port.read_line(deadline)) is not None:
            if reply.startswith("Grbl"):
                return True
        return False

    # -------------------------------------------------------------------------------------- check mode

    def check(
        self, lines: Sequence[str], progress: bool = True, line_numbers: Sequence[int | None] | None = None
    ) -> StreamReport:
        """Stream ``lines`` in GRBL's check mode: every line is parsed, none moves; every error is reported.

        An alarm (soft limits) ends check mode by itself; otherwise ``$C`` leaves it, and GRBL resets. Lines that
        cannot be sent, and a ``$C`` line (after which the rest would run for real), are refused first.
        """
        numbers = list(range(1, len(lines) + 1)) if line_numbers is None else line_numbers
        payloads = self._payloads(lines, numbers)
        if "$C" in payloads:
            raise self._refuse(numbers, payloads.index("$C"), "is $C, which would end check mode: the lines after it "
                               "would move the machine")
        answer = self._command("$C")
        if answer != "ok":
            raise StreamError(f"GRBL on {self.port} did not enter check mode ($C): {answer or 'no answer'}")
        self._checking = True
        report = self.stream(lines, progress, line_numbers=line_numbers)
        if self._checking:
            self._checking = False
            self._soft_reset(b"$C\n")
            self._sync()
        return report

    # ------------------------------------------------------------------------------------- the lines

    def _payload(self, line: str) -> str:
        return clean_line(line)

    def _payloads(self, lines: Sequence[str], numbers: Sequence[int | None]) -> list[str]:
        cleaned = [clean_line(line) for line in lines]
        for index, code in enumerate(cleaned):
            unsafe = sorted(set(code) & _NOT_IN_A_LINE) or [c for c in code if not " " < c < "\x7f"][:1]
            if unsafe:
                raise self._refuse(
                    numbers, index, f"contains {unsafe[0]!r}, which GRBL would not read as part of a line "
                    "(a realtime command or a non-printable character)"
                )
            if len(code) + 1 > self.rx_buffer_bytes:
                raise self._refuse(
                    numbers, index, f"is {len(code) + 1} bytes long, more than GRBL's {self.rx_buffer_bytes}-byte "
                    "receive buffer holds"
                )
        return cleaned

    # ------------------------------------------------------------------------------------- streaming

    def _stream(self, flow: _Flow, on_pause: Callable[[str], None] | None) -> None:
        flow.progress_t = flow.next_status_t = time.monotonic()
        while not flow.alarmed:
            pause = self._send_what_fits(flow)
            if pause is not None:
                self._pause(pause, flow, on_pause)
                continue
            if not flow.outstanding:
                break
            now = time.monotonic()
            if now >= flow.next_status_t:
                self._port.write(b"?")
                flow.next_status_t = now + STATUS_INTERVAL_S
            silent_until = flow.progress_t + self.timeout_s
            reply = self._port.read_line(min(flow.next_status_t, silent_until))
            if reply is not None:
                self._answer(reply, flow)
            elif time.monotonic() >= silent_until:
                self._check_silence(flow)
        if flow.stopping and not flow.alarmed:
            self._lift_pen()

    def _send_what_fits(self, flow: _Flow) -> int | None:
        """Send lines while they fit GRBL's receive buffer; returns the index of a program pause just sent."""
        while not flow.stopping and flow.next_index < len(flow.payloads):
            if self.send_response and flow.outstanding:
                break
            index, code = flow.next_index, flow.payloads[flow.next_index]
            if not code:  # nothing for GRBL: done without sending
                flow.next_index += 1
                flow.skip(index)
                continue
            data = (code + "\n").encode("ascii")
            if flow.in_buffer + len(data) > self.rx_buffer_bytes:
                break
            self._port.write(data)
            if not flow.outstanding:
                flow.progress_t = time.monotonic()  # the board's time to answer starts now
            flow.outstanding.append((index, len(data)))
            flow.in_buffer += len(data)
            flow.sent(index, data)
            flow.next_index += 1
            self.on_send(code, flow.in_buffer)
            if is_program_pause(code):
                return index
        return None

    def _answer(self, reply: str, flow: _Flow) -> None:
        """Account for one line from GRBL: an answer to the oldest outstanding line, a status, an alarm."""
        if reply == "ok" or reply.startswith("error:"):
            if not flow.outstanding:
                return  # not an answer to a line of this stream
            index, size = flow.outstanding.popleft()
            flow.in_buffer -= size
            flow.progress_t = time.monotonic()
            if reply == "ok":
                flow.acknowledge(index)
            else:
                code = _number(reply)
                flow.fail(index, code, error_meaning(code))
                flow.stopping = not self._checking  # in check mode GRBL goes on parsing: so does the sending
        elif reply.startswith("<"):
            self._status(reply, flow)
        elif reply.startswith("ALARM:"):
            code = _number(reply)
            oldest = flow.outstanding[0][0] if flow.outstanding else max(flow.last_acknowledged - 1, 0)
            where = f"{flow.line_name(oldest)}: {flow.lines[oldest].strip()}"
            flow.report.alarm = f"ALARM:{code} at {where} ({alarm_meaning(code)})"
            flow.alarmed = True
            self._recover_from_alarm(flow)
        elif reply.startswith("Grbl"):
            raise StreamError(
                f"GRBL on {self.port} reset itself during the stream after {flow.last_answered()}"
            )
        # anything else ([MSG:...], [HLP:...]) is information, not an answer

    def _status(self, reply: str, flow: _Flow) -> MachineStatus:
        """Take in a status report: the progress bar shows it, and a running machine is making progress."""
        status = parse_status(reply)
        flow.status = status
        flow.progress.machine(status.state, status.position_mm)
        if status.running:
            flow.progress_t = time.monotonic()
        return status

    def _check_silence(self, flow: _Flow) -> None:
        """No answer for ``timeout_s``: ask for the status; a running machine is busy, anything else is lost."""
        asked = time.monotonic()
        self._port.write(b"?")
        deadline = asked + min(STATUS_WAIT_S, self.timeout_s)
        status = None
        while status is None and (reply := self._port.read_line(deadline)) is not None:
            if reply.startswith("<"):
                status = self._status(reply, flow)
            else:
                self._answer(reply, flow)
        if flow.progress_t >= asked or flow.alarmed:
            return  # an answer came after all, or the machine runs
        said = status.report if status else "no answer to '?' either"
        raise StreamError(
            f"GRBL on {self.port} stopped answering: nothing for {self.timeout_s:g} s after "
            f"{flow.last_answered()} was acknowledged; status: {said}"
        )

    # ---------------------------------------------------------------------------------- program pauses

    def _pause(self, index: int, flow: _Flow, on_pause: Callable[[str], None] | None) -> None:
        """Line ``index`` (M0/M1) was just sent: wait for Hold, ask the operator, resume, wait for the answer."""
        paused = self._until_paused(index, flow)
        if flow.alarmed or not paused:
            return
        flow.progress.paused()
        if on_pause is not None and not flow.stopping:  # after an error the stream ends: no pen to change
            _, message = strip_comment(flow.lines[index])
            on_pause(message)
        self._port.write(b"~")
        self._until_resumed(index, flow)
        flow.progress.resumed()

    def _until_paused(self, index: int, flow: _Flow) -> bool:
        """Poll until the board is in Hold (True), or has answered the pause line without pausing (False).

        Run is progress (a real GRBL finishes its buffered moves before it pauses); a board that neither runs
        nor pauses nor answers the pause line for ``timeout_s`` has stopped taking lines: StreamError.
        """
        progress = time.monotonic()
        for state in self._states(flow):
            if state.startswith("Hold"):
                return True
            if not _waiting_for(index, flow) and state != "Run":
                return False  # rejected (error:N) or ignored (GRBL 1.1 ignores M1): the board did not pause
            if state == "Run":
                progress = time.monotonic()
            elif time.monotonic() - progress > self.timeout_s:
                self._check_silence(flow)
        return False  # an alarm ended the stream

    def _until_resumed(self, index: int, flow: _Flow) -> None:
        """After ``~``: poll until the pause line is answered and the board is out of Hold (within timeout_s)."""
        resumed = time.monotonic()
        for state in self._states(flow):
            if not state.startswith("Hold") and not _waiting_for(index, flow):
                return
            if time.monotonic() - resumed > self.timeout_s:
                raise StreamError(
                    f"GRBL on {self.port} did not resume within {self.timeout_s:g} s of the cycle start (~) "
                    f"that ends the pause at {flow.line_name(index)}; last state: {state}"
                )

    def _states(self, flow: _Flow) -> Iterator[str]:
        """Ask ``?`` every STATUS_POLL_S and yield each reported state ("Idle", "Hold:0", ...) until an alarm."""
        while not flow.alarmed:
            self._port.write(b"?")
            next_poll = time.monotonic() + STATUS_POLL_S
            status = self._next_status(flow)
            if status is None:
                return
            yield status.state
            while not flow.alarmed and (reply := self._port.read_line(next_poll)) is not None:
                self._answer(reply, flow)

    def _next_status(self, flow: _Flow) -> MachineStatus | None:
        """GRBL's next status report, accounting for the lines before it; None after an alarm."""
        while not flow.alarmed:
            reply = self._port.read_line(time.monotonic() + self.timeout_s)
            if reply is None:
                self._check_silence(flow)
                continue
            if reply.startswith("<"):
                return self._status(reply, flow)
            self._answer(reply, flow)
        return None

    # ------------------------------------------------------------------------------------- recovery

    def _command(self, payload: str) -> str | None:
        self._port.write(payload.encode("ascii") + b"\n")
        deadline = time.monotonic() + self.timeout_s
        while (reply := self._port.read_line(deadline)) is not None:
            if reply == "ok" or reply.startswith("error:"):
                return reply
        return None

    def _ask_status(self) -> MachineStatus | None:
        """A fresh status report outside the stream, or None."""
        self._port.write(b"?")
        deadline = time.monotonic() + min(STATUS_WAIT_S, self.timeout_s)
        while (reply := self._port.read_line(deadline)) is not None:
            if reply.startswith("<"):
                return parse_status(reply)
        return None

    def _recover_from_alarm(self, flow: _Flow) -> None:
        """After ALARM:N GRBL waits for a reset (which also stops the spindle); then unlock and lift the pen.

        An alarm in check mode ends it: nothing moved, so the pen stays as it is.
        """
        checking, self._checking = self._checking, False
        self._port.write(b"\x18")  # an ok GRBL still prints before its banner is for the line the alarm killed
        if not self._wait_for_banner(time.monotonic() + self.timeout_s):
            raise StreamError(f"GRBL on {self.port} did not come back after a reset following an alarm")
        self._command("$X")
        if not checking:
            self._lift_pen()
        status = self._ask_status()
        flow.report.stopped_at_mm = status.position_mm if status else None

    def _interrupt(self, flow: _Flow) -> None:
        """Ctrl-C: feed hold until the machine stands, soft reset (drops what is queued), unlock, pen up.

        In check mode nothing moves: the reset alone ends it, and the pen stays as it is.
        """
        checking, self._checking = self._checking, False
        try:
            self._port.write(b"!")
            stopped = self._until_stopped(flow)
            self._port.write(b"\x18")
            if self._wait_for_banner(time.monotonic() + self.timeout_s):  # an ok before it: parsed, not run
                self._command("$X")  # only needed if the reset came in motion (ALARM:3); harmless otherwise
                stopped = self._ask_status() or stopped  # lines may have run after the hold: a board in Idle ignores it
                if not checking:
                    self._lift_pen()
            flow.report.stopped_at_mm = stopped.position_mm if stopped else None
        except StreamError:
            pass  # the board is gone: nothing more to do for it

    def _until_stopped(self, flow: _Flow) -> MachineStatus | None:
        """After a feed hold: the status once the machine stands (Hold:0, Idle, Check), or None if it never says so."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            self._port.write(b"?")
            poll_until = time.monotonic() + STATUS_POLL_S
            while (reply := self._port.read_line(poll_until)) is not None:
                if reply.startswith("<"):
                    status = self._status(reply, flow)
                    if status.state in ("Hold:0", "Idle", "Check"):
                        return status
                elif reply == "ok" or reply.startswith("error:"):
                    self._answer(reply, flow)
        return None


def _waiting_for(index: int, flow: _Flow) -> bool:
    """True while line ``index`` has been sent and GRBL has not answered it yet."""
    return any(i == index for i, _ in flow.outstanding)


def _number(reply: str) -> int:
    try:
        return int(reply.split(":", 1)[1])
    except (IndexError, ValueError):
        return -1
