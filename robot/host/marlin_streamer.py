"""Stream G-code to a Marlin 2 board: numbered lines with checksums, one line at a time.

After ``M110 N0`` has set the numbering, every line goes out as ``N<n> <command>*<checksum>`` and the next
one only once Marlin has answered ``ok`` (send-response, as Marlin's own hosts do by default).

A line that arrives garbled is refused with ``Error:...``, ``Resend: <n>`` and ``ok`` (that ``ok`` answers
nothing). The streamer sends line n again once the link has gone quiet, because line noise can cut one line
into two, each refused on its own: a copy sent at the first refusal would meet the second and be refused as
out of order in turn. Marlin never executes a number twice, so a stray copy costs time, never a line
drawn twice. A line whose ending was lost gets no answer at all: after ``timeout_s`` of silence the
streamer sends an empty line (which ends it, so that Marlin refuses it) and then the line again.

``busy:`` keepalives say Marlin is working on a long command. A command Marlin does not know is answered
``echo:Unknown command: "<command>"`` and ``ok``: the streamer takes that as the line's failure, stops
sending and lifts the pen, as for GRBL's ``error:N`` (an echo naming something that was never sent is
line noise and is ignored). Any other ``Error:`` means Marlin has halted: the stream ends at once.

A program pause (``M0``) waits until Marlin says ``busy: paused for user`` (or nothing for ``timeout_s``),
asks the operator, and goes on with ``M108``, which Marlin's emergency parser takes at once. Ctrl-C sends
``M410`` (a quick stop that drops the queued moves, also taken at once), reads the position with ``M114``
and lifts the pen.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from robot.firmware.marlin_protocol import MAX_CMD_SIZE, command_word, marlin_code, numbered
from robot.host.serial_port import StreamError
from robot.host.stream_base import StreamJob, StreamReport, Streamer

NO_CHECK_MODE = (
    "Marlin has no check mode (GRBL's $C, which parses a program without moving): check the program with "
    "`strokebot simulate FILE -o sim.png` instead"
)
RESEND_QUIET_S = 0.05  # how long the link must stay quiet after a refusal before the line is sent again
MAX_RESENDS = 20  # refusals of one line before the link is judged too noisy to go on
_POSITION = re.compile(r"X:(-?[\d.]+) Y:(-?[\d.]+) Z:(-?[\d.]+)")


@dataclass
class _Sent:
    """A line awaiting Marlin's answer: its number and program line (None for a control line such as M108)."""

    number: int | None
    index: int | None
    data: bytes


@dataclass
class _Flow(StreamJob):
    """Marlin's bookkeeping: lines awaiting an answer, the numbering, refusals, where sending is."""

    outstanding: deque[_Sent] = field(default_factory=deque)
    next_index: int = 0
    number: int = 0  # the last line number used
    resend_due_t: float | None = None  # when to send the first outstanding line again, once the link is quiet
    swallow_oks: int = 0  # answers still to come that belong to no line (after a refusal, to line noise)
    unknown: str | None = None  # Marlin did not know the command of the line being answered
    refusals: dict[int, int] = field(default_factory=dict)
    stopping: bool = False  # a line failed: send nothing more
    halted: bool = False  # Marlin has stopped for good (kill): nothing more can be sent
    progress_t: float = 0.0  # when Marlin last said anything that shows it works
    nudged: bool = False  # an empty line went out after a silence
    pause_index: int | None = None  # a program pause that has been sent and not yet let go on


class MarlinStreamer(Streamer):
    """Streams G-code lines to a Marlin 2 board with line numbers and checksums, one line at a time."""

    firmware = "Marlin"
    Job = _Flow

    def __init__(
        self, port: str, baudrate: int = 115200, timeout_s: float = 10.0, pen_up: Sequence[str] = ()
    ) -> None:
        super().__init__(port, baudrate, timeout_s, pen_up)

    # ------------------------------------------------------------------------------------ connection

    def _connect(self) -> None:
        """Set the line numbering with M110 N0, then sync on the one answer to M114.

        A board that resets when its port is opened loses what came during its boot and then says "start":
        M110 N0 goes again. That may leave one ``ok`` too many (if the first was not lost after all); the
        position report of M114, asked once, marks where the answers to the stream begin.
        """
        self._port.write(b"M110 N0\n")
        deadline = time.monotonic() + self.timeout_s
        while (reply := self._read(deadline)) != "ok":
            if reply == "start":  # it was booting and may have lost the first M110
                self._port.write(b"M110 N0\n")
                deadline = time.monotonic() + self.timeout_s
        self._port.write(b"M114\n")
        while not self._read(deadline).startswith("X:"):
            pass
        while self._read(deadline) != "ok":
            pass

    def _read(self, deadline: float) -> str:
        """The next line from a board that must answer by ``deadline``."""
        reply = self._port.read_line(deadline)
        if reply is None:
            raise StreamError(f"no Marlin answered on {self.port} within {self.timeout_s:g} s")
        return "ok" if reply.startswith("ok") else reply

    def check(
        self, lines: Sequence[str], progress: bool = True, line_numbers: Sequence[int | None] | None = None
    ) -> StreamReport:
        """Refused: Marlin has no check mode."""
        raise StreamError(NO_CHECK_MODE)

    # ------------------------------------------------------------------------------------- the lines

    def _payload(self, line: str) -> str:
        return marlin_code(line)

    def _payloads(self, lines: Sequence[str], numbers: Sequence[int | None]) -> list[str]:
        payloads = [marlin_code(line) for line in lines]
        for index, code in enumerate(payloads):
            bad = [c for c in code if not " " <= c < "\x7f" or c == "*"][:1]
            if bad:
                why = f"contains {bad[0]!r}, which Marlin would not read as part of a line"
                raise self._refuse(numbers, index, why)
            size = len(numbered(len(lines), code)) + 1  # the longest line number it may get
            if size > MAX_CMD_SIZE:
                raise self._refuse(
                    numbers, index, f"is {size} bytes long with its line number and checksum, more than Marlin's "
                    f"{MAX_CMD_SIZE}-byte command buffer holds"
                )
        return payloads

    # ------------------------------------------------------------------------------------- streaming

    def _stream(self, flow: _Flow, on_pause: Callable[[str], None] | None) -> None:
        flow.progress_t = time.monotonic()
        while not flow.halted:
            if not flow.outstanding and not self._send_next(flow):
                break
            silent_until = flow.progress_t + self.timeout_s
            until = silent_until if flow.resend_due_t is None else min(silent_until, flow.resend_due_t)
            reply = self._port.read_line(until)
            if reply is not None:
                self._answer(reply, flow, on_pause)
            elif flow.resend_due_t is not None and time.monotonic() >= flow.resend_due_t:
                self._send_again(flow)
            elif time.monotonic() >= silent_until:
                self._silence(flow, on_pause)
        if flow.stopping and not flow.halted:
            self._lift_pen()

    def _send_next(self, flow: _Flow) -> bool:
        """Send the next program line (acknowledging empty ones on the way); False when nothing is left."""
        while not flow.stopping and flow.next_index < len(flow.payloads):
            index, code = flow.next_index, flow.payloads[flow.next_index]
            flow.next_index += 1
            if not code:
                flow.skip(index)
                continue
            flow.number += 1
            sent = _Sent(flow.number, index, (numbered(flow.number, code) + "\n").encode("ascii"))
            self._port.write(sent.data)
            flow.outstanding.append(sent)
            flow.progress_t = time.monotonic()
            flow.sent(index, sent.data)
            self.on_send(code, len(sent.data))
            if command_word(code) in ("M0", "M1"):
                flow.pause_index = index
            return True
        return False

    def _send_again(self, flow: _Flow) -> None:
        """Send the first outstanding line again, after Marlin refused it and the link went quiet."""
        flow.resend_due_t = None
        sent = flow.outstanding[0]
        self._port.write(sent.data)
        flow.report.bytes_sent += len(sent.data)
        flow.report.resends += 1
        flow.progress_t = time.monotonic()

    def _answer(self, reply: str, flow: _Flow, on_pause: Callable[[str], None] | None = None) -> None:
        """Account for one line from Marlin; anything it says postpones a resend until the link is quiet."""
        if flow.resend_due_t is not None:
            flow.resend_due_t = time.monotonic() + RESEND_QUIET_S
        if reply.startswith("ok"):
            flow.progress_t, flow.nudged = time.monotonic(), False
            if flow.swallow_oks:
                flow.swallow_oks -= 1
            elif flow.outstanding:
                self._done(flow.outstanding.popleft(), flow)
        elif reply.startswith(("Resend:", "rs ")):
            self._refused(_last_int(reply), flow)
        elif reply.startswith("Error:"):
            if "Last Line" not in reply:  # not about a line's way here: Marlin has halted
                index = flow.outstanding[0].index if flow.outstanding else None
                where = f" at {flow.line_name(index)}: {flow.lines[index].strip()}" if index is not None else ""
                flow.report.alarm = f"{reply}{where}"
                flow.halted = True
        elif reply.startswith("echo:Unknown command"):
            self._unknown(reply, flow)
        elif reply.startswith("busy:"):
            flow.progress_t = time.monotonic()
            flow.progress.machine("Paused" if "paused" in reply else "Busy")
            if "paused for user" in reply:
                self._pause(flow, on_pause)
        elif reply == "start":
            raise StreamError(
                f"Marlin on {self.port} restarted during the stream after {flow.last_answered()}"
            )
        # anything else (echo:..., temperatures, //action:...) is information, not an answer

    def _done(self, sent: _Sent, flow: _Flow) -> None:
        """Marlin has answered ``sent`` with ``ok``: acknowledged, or failed after an unknown command."""
        flow.resend_due_t = None
        if sent.index is None:
            return  # a control line
        if flow.unknown is not None:
            flow.fail(sent.index, "unknown command", flow.unknown)
            flow.unknown = None
            flow.stopping = True
        else:
            flow.acknowledge(sent.index)

    def _refused(self, number: int, flow: _Flow) -> None:
        """``Resend: number``: if that is the line awaiting an answer, send it again once the link is quiet."""
        flow.swallow_oks += 1  # the ok that ends the refusal
        front = flow.outstanding[0] if flow.outstanding else None
        if front is None or front.number != number:
            return  # about a stray copy of a line Marlin has already taken
        count = flow.refusals[number] = flow.refusals.get(number, 0) + 1
        if count > MAX_RESENDS:
            raise StreamError(
                f"Marlin on {self.port} refused {flow.line_name(front.index)} ({flow.lines[front.index].strip()}) "
                f"{count} times as garbled on the way; the serial link is too noisy to go on"
            )
        flow.resend_due_t = time.monotonic() + RESEND_QUIET_S

    def _unknown(self, reply: str, flow: _Flow) -> None:
        """``echo:Unknown command: "X"``: the failure of the line awaiting an answer if it says X, else noise."""
        echoed = reply.partition('"')[2].rstrip('"')
        front = flow.outstanding[0] if flow.outstanding else None
        if front is not None and front.index is not None and _same_command(echoed, flow.payloads[front.index]):
            flow.unknown = reply.removeprefix("echo:")
        else:
            flow.swallow_oks += 1  # a fragment of a garbled line, answered like a command

    def _silence(self, flow: _Flow, on_pause: Callable[[str], None] | None) -> None:
        """Nothing for ``timeout_s``: a pause without keepalives, a lost line ending, or a lost board."""
        if flow.pause_index is not None:
            self._pause(flow, on_pause)  # a Marlin without keepalives pauses in silence
            flow.progress_t = time.monotonic()
        elif not flow.nudged:
            self._port.write(b"\n")  # ends a line whose ending was lost: Marlin refuses it and asks again
            flow.nudged = True
            flow.progress_t = time.monotonic()
            flow.resend_due_t = flow.progress_t + min(self.timeout_s, 1.0)
        else:
            raise StreamError(
                f"Marlin on {self.port} stopped answering: nothing for {self.timeout_s:g} s after "
                f"{flow.last_answered()} was acknowledged, not even a busy: keepalive"
            )

    # ---------------------------------------------------------------------------------- program pauses

    def _pause(self, flow: _Flow, on_pause: Callable[[str], None] | None) -> None:
        """Marlin waits at a program pause: ask the operator, then let it go on with M108."""
        index, flow.pause_index = flow.pause_index, None
        if index is None:
            return  # this pause has been dealt with; a later keepalive
        flow.progress.paused()
        if on_pause is not None and not flow.stopping:
            on_pause(_pause_message(flow.payloads[index]))
        self._port.write(b"M108\n")
        flow.outstanding.append(_Sent(None, None, b"M108\n"))
        flow.progress.resumed()

    # ------------------------------------------------------------------------------------- recovery

    def _command(self, payload: str) -> str | None:
        """Send one line outside the stream; returns the last thing Marlin said before its ``ok``, or None."""
        self._port.write(payload.encode("ascii") + b"\n")
        deadline = time.monotonic() + self.timeout_s
        said = None
        while (reply := self._port.read_line(deadline)) is not None:
            if reply.startswith("ok"):
                return said or reply
            if not reply.startswith("busy:"):
                said = reply
        return None

    def _interrupt(self, flow: _Flow) -> None:
        """Ctrl-C: let a pause go, quick-stop (queued moves dropped), read where it stopped, lift the pen."""
        try:
            self._port.write(b"M108\nM410\n")
            expected = len(flow.outstanding) + 2 + flow.swallow_oks
            deadline = time.monotonic() + self.timeout_s
            while expected and (reply := self._port.read_line(deadline)) is not None:
                expected -= reply.startswith("ok")
            position = _POSITION.search(self._command("M114") or "")
            self._lift_pen()
            flow.report.stopped_at_mm = tuple(float(v) for v in position.groups()) if position else None
        except StreamError:
            pass  # the board is gone: nothing more to do for it


def _last_int(reply: str) -> int:
    digits = re.findall(r"-?\d+", reply)
    return int(digits[-1]) if digits else -1


def _same_command(echoed: str, payload: str) -> bool:
    """Whether Marlin's echo of a command names the command of ``payload``."""
    return bool(echoed) and (command_word(echoed) or echoed) == (command_word(payload) or payload)


def _pause_message(payload: str) -> str:
    """The operator's message of a Marlin pause line: the text after ``M0``/``M1``."""
    return re.sub(r"^\s*M0*[01](?![\d.])\s*", "", payload, flags=re.IGNORECASE)
