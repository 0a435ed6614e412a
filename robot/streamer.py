"""Stream G-code to a GRBL 1.1 board over a serial port with GRBL's character-counting protocol.

The host keeps the byte length of every line it has sent and GRBL has not yet answered; a new line goes out
only while all of them together still fit GRBL's serial receive buffer (127 bytes). Each ``ok`` or
``error:N`` answers the oldest line. This keeps the board's buffer full without ever overflowing it.

A program pause (``M0``/``M1``, e.g. a multi-pen drawing's pen change) stops the sending: nothing after it
goes out until the board has paused (status ``Hold``), the operator has been asked (``on_pause``), and a
cycle start (``~``) has taken the board out of Hold again.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import serial
from tqdm import tqdm

from gcode.reader import GcodeError, parse_words, strip_comment
from robot.grbl_codes import alarm_meaning, error_meaning

_NOT_IN_A_LINE = frozenset("?!~\x18")  # realtime commands: GRBL acts on them at once, wherever they appear
READ_POLL_S = 0.05  # the serial read timeout; deadlines are kept by the streamer itself
STATUS_WAIT_S = 1.0  # how long to wait for the answer to '?' once the board has stopped answering lines
STATUS_POLL_S = 0.1  # how often to ask '?' while waiting for a program pause to begin or end (GRBL: <= 5-10 Hz)


class StreamError(RuntimeError):
    """Streaming could not go on: no port, no GRBL, no answer or a lost connection; the message says which."""


@dataclass
class StreamReport:
    """What happened to a stream: counts, the errors GRBL reported, an alarm if any, and the duration."""

    lines_total: int
    lines_sent: int = 0
    lines_acknowledged: int = 0
    errors: list[dict] = field(default_factory=list)
    alarm: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every line was acknowledged with ``ok`` and no alarm was raised."""
        return not self.errors and self.alarm is None and self.lines_acknowledged == self.lines_total

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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


class GrblStreamer:
    """Streams G-code lines to a GRBL 1.1 board on ``port`` (a device path or any pyserial URL)."""

    def __init__(
        self, port: str, baudrate: int = 115200, timeout_s: float = 10.0, rx_buffer_bytes: int = 127
    ) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self.rx_buffer_bytes = rx_buffer_bytes
        self._buffer = bytearray()
        try:
            self._serial = serial.serial_for_url(
                port, baudrate=baudrate, timeout=READ_POLL_S, write_timeout=timeout_s
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise StreamError(f"cannot open serial port {port}: {_reason(exc)}") from None
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        ser = getattr(self, "_serial", None)
        if ser is not None:
            self._serial = None
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def __enter__(self) -> GrblStreamer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> None:
        """Soft-reset the board and wait for its banner, so streaming starts from a known state."""
        try:
            self._serial.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise StreamError(f"cannot use serial port {self.port}: {_reason(exc)}") from None
        self._write(b"\x18")
        deadline = time.monotonic() + self.timeout_s
        if not self._wait_for_banner(deadline):
            raise StreamError(f"no GRBL answered on {self.port} within {self.timeout_s:g} s")
        # An empty line is answered "ok" after everything GRBL sent before it (a power-up banner that
        # arrived late, the banner of our reset): once it is back, the next answer belongs to the stream.
        self._write(b"\n")
        while (reply := self._read_line(deadline)) != "ok":
            if reply is None:
                raise StreamError(f"GRBL on {self.port} sent its banner but did not answer an empty line")

    def _wait_for_banner(self, deadline: float) -> bool:
        while True:
            reply = self._read_line(deadline)
            if reply is None:
                return False
            if reply.startswith("Grbl"):
                return True

    # ------------------------------------------------------------------------------------------ I/O

    def _write(self, data: bytes) -> None:
        try:
            self._serial.write(data)
        except (serial.SerialException, OSError) as exc:
            raise StreamError(f"lost the connection to {self.port}: {_reason(exc)}") from None

    def _read_line(self, deadline: float) -> str | None:
        """The next non-empty line GRBL sends, or None when ``deadline`` passes first."""
        while True:
            newline = self._buffer.find(b"\n")
            while newline >= 0:
                raw = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                text = raw.decode("ascii", "replace").strip()
                if text:
                    return text
                newline = self._buffer.find(b"\n")
            if time.monotonic() >= deadline:
                return None
            try:
                waiting = self._serial.in_waiting
                chunk = self._serial.read(max(1, waiting))
            except (serial.SerialException, OSError) as exc:
                raise StreamError(f"lost the connection to {self.port}: {_reason(exc)}") from None
            self._buffer += chunk

    def _ask_status(self) -> str:
        """GRBL's status report, or a note that it did not answer ``?`` either."""
        try:
            self._write(b"?")
            deadline = time.monotonic() + min(STATUS_WAIT_S, self.timeout_s)
            while (reply := self._read_line(deadline)) is not None:
                if reply.startswith("<"):
                    return reply
        except StreamError:
            pass
        return "no answer to '?' either"

    # ------------------------------------------------------------------------------------- streaming

    def stream(
        self,
        lines: Sequence[str],
        progress: bool = True,
        on_pause: Callable[[str], None] | None = None,
        elapsed_s: Sequence[float] | None = None,
    ) -> StreamReport:
        """Send ``lines`` with character counting; returns a report, or raises StreamError if GRBL is lost.

        At a program pause (``M0``/``M1``) nothing more is sent until the board is in Hold; then
        ``on_pause`` is called with the pause line's comment (e.g. "change to pen red", "" without one) and,
        once it returns, a cycle start resumes the board; with ``on_pause=None`` it resumes at once.
        ``elapsed_s`` (the plan's estimated time at the end of each line) turns into the progress bar's ETA.

        An ``error:N`` stops the sending: the lines already in GRBL's buffer are still answered (and
        recorded), then the pen is lifted with ``M5``. An ``ALARM:N`` stops everything: GRBL ignores all
        input after a limit alarm until it is reset, so the streamer resets it, unlocks it with ``$X`` and
        lifts the pen; the lines that were in its buffer are lost. On KeyboardInterrupt the board gets a
        feed hold and a soft reset (which stops the spindle: pen up) before the interrupt goes on.
        """
        if self._serial is None:
            raise StreamError(f"the connection to {self.port} is closed")
        started = time.monotonic()
        cleaned = [clean_line(line) for line in lines]
        for number, code in enumerate(cleaned, start=1):
            unsafe = sorted(set(code) & _NOT_IN_A_LINE) or [c for c in code if not " " < c < "\x7f"][:1]
            if unsafe:
                raise StreamError(
                    f"line {number} contains {unsafe[0]!r}, which GRBL would not read as part of a line "
                    "(a realtime command or a non-printable character); nothing was sent"
                )
            if len(code) + 1 > self.rx_buffer_bytes:
                raise StreamError(
                    f"line {number} is {len(code) + 1} bytes long, more than GRBL's {self.rx_buffer_bytes}-byte "
                    "receive buffer holds; nothing was sent"
                )
        report = StreamReport(lines_total=len(lines))
        bar = tqdm(total=len(lines), disable=not progress, unit="line", desc="streaming", leave=False)
        try:
            self._stream(cleaned, lines, report, bar, on_pause, elapsed_s)
        except KeyboardInterrupt:
            self._interrupt()
            raise
        finally:
            bar.close()
            report.seconds = time.monotonic() - started
        return report

    def _stream(
        self,
        cleaned: list[str],
        lines: Sequence[str],
        report: StreamReport,
        bar: tqdm,
        on_pause: Callable[[str], None] | None,
        elapsed_s: Sequence[float] | None,
    ) -> None:
        flow = _Flow(elapsed_s=elapsed_s)
        while not flow.alarmed:
            pause = self._send_what_fits(cleaned, flow, report, bar)
            if pause is not None:
                self._pause(pause, lines, flow, report, bar, on_pause)
                continue
            if not flow.outstanding:
                break
            reply = self._read_line(time.monotonic() + self.timeout_s)
            if reply is None:
                raise self._silence(flow)
            self._answer(reply, flow, lines, report, bar)
        if flow.stopping and not flow.alarmed:
            self._lift_pen(unlock=False)

    def _send_what_fits(self, cleaned: list[str], flow: _Flow, report: StreamReport, bar: tqdm) -> int | None:
        """Send lines while they fit GRBL's receive buffer; returns the index of a program pause just sent."""
        while not flow.stopping and flow.next_index < len(cleaned):
            code = cleaned[flow.next_index]
            if not code:  # nothing for GRBL: counted as done without sending
                flow.next_index += 1
                report.lines_acknowledged += 1
                bar.update(1)
                continue
            data = (code + "\n").encode("ascii", "replace")
            if flow.in_buffer + len(data) > self.rx_buffer_bytes:
                break
            self._write(data)
            self.on_send(code, flow.in_buffer + len(data))
            flow.outstanding.append((flow.next_index, len(data)))
            flow.in_buffer += len(data)
            report.lines_sent += 1
            flow.next_index += 1
            if is_program_pause(code):
                return flow.next_index - 1
        return None

    def _answer(self, reply: str, flow: _Flow, lines: Sequence[str], report: StreamReport, bar: tqdm) -> None:
        """Account for one line from GRBL: an answer to the oldest outstanding line, an alarm, or information."""
        if reply == "ok" or reply.startswith("error:"):
            if not flow.outstanding:
                return  # not an answer to a line of this stream
            index, size = flow.outstanding.popleft()
            flow.in_buffer -= size
            report.lines_acknowledged += 1
            flow.last_acknowledged = index + 1
            bar.update(1)
            if flow.elapsed_s:
                remaining = flow.elapsed_s[-1] - flow.elapsed_s[index]
                bar.set_postfix_str(f"plot ETA {remaining // 60:.0f}:{remaining % 60:02.0f}", refresh=False)
            if reply != "ok":
                code = _number(reply)
                line = lines[index].strip()
                report.errors.append(
                    {"line_no": index + 1, "line": line, "code": code, "meaning": error_meaning(code)}
                )
                flow.stopping = True
        elif reply.startswith("ALARM:"):
            code = _number(reply)
            oldest = flow.outstanding[0][0] if flow.outstanding else flow.last_acknowledged - 1
            where = f"line {oldest + 1}: {lines[oldest].strip()}"
            report.alarm = f"ALARM:{code} at {where} ({alarm_meaning(code)})"
            flow.alarmed = True
            self._recover_from_alarm()
        elif reply.startswith("Grbl"):
            raise StreamError(
                f"GRBL on {self.port} reset itself during the stream after line {flow.last_acknowledged}"
            )
        # anything else ([MSG:...], [HLP:...], <status>) is information, not an answer

    def _silence(self, flow: _Flow) -> StreamError:
        """The error for a board that sent nothing for ``timeout_s``, with its status if it still gives one."""
        status = self._ask_status()
        return StreamError(
            f"GRBL on {self.port} stopped answering: nothing for {self.timeout_s:g} s after line "
            f"{flow.last_acknowledged} was acknowledged; status: {status}"
        )

    # ---------------------------------------------------------------------------------- program pauses

    def _pause(
        self,
        index: int,
        lines: Sequence[str],
        flow: _Flow,
        report: StreamReport,
        bar: tqdm,
        on_pause: Callable[[str], None] | None,
    ) -> None:
        """Line ``index`` (M0/M1) was just sent: wait for Hold, ask the operator, resume, wait for the answer."""
        paused = self._until_paused(index, flow, lines, report, bar)
        if flow.alarmed or not paused:
            return
        if on_pause is not None and not flow.stopping:  # after an error the stream ends: no pen to change
            _, message = strip_comment(lines[index])
            on_pause(message)
        self._write(b"~")
        self._until_resumed(index, flow, lines, report, bar)

    def _until_paused(
        self, index: int, flow: _Flow, lines: Sequence[str], report: StreamReport, bar: tqdm
    ) -> bool:
        """Poll until the board is in Hold (True), or has answered the pause line without pausing (False).

        Run is progress (a real GRBL finishes its buffered moves before it pauses); a board that neither runs
        nor pauses nor answers the pause line for ``timeout_s`` has stopped taking lines: StreamError.
        """
        progress = time.monotonic()
        for state in self._states(flow, lines, report, bar):
            if state.startswith("Hold"):
                return True
            if not _waiting_for(index, flow) and state != "Run":
                return False  # rejected (error:N) or ignored (GRBL 1.1 ignores M1): the board did not pause
            if state == "Run":
                progress = time.monotonic()
            elif time.monotonic() - progress > self.timeout_s:
                raise self._silence(flow)
        return False  # an alarm ended the stream

    def _until_resumed(
        self, index: int, flow: _Flow, lines: Sequence[str], report: StreamReport, bar: tqdm
    ) -> None:
        """After ``~``: poll until the pause line is answered and the board is out of Hold (within timeout_s)."""
        resumed = time.monotonic()
        for state in self._states(flow, lines, report, bar):
            if not state.startswith("Hold") and not _waiting_for(index, flow):
                return
            if time.monotonic() - resumed > self.timeout_s:
                raise StreamError(
                    f"GRBL on {self.port} did not resume within {self.timeout_s:g} s of the cycle start (~) "
                    f"that ends the pause at line {index + 1}; last state: {state}"
                )

    def _states(self, flow: _Flow, lines: Sequence[str], report: StreamReport, bar: tqdm) -> Iterator[str]:
        """Ask ``?`` every STATUS_POLL_S and yield each reported state ("Idle", "Hold:0", ...) until an alarm."""
        while not flow.alarmed:
            self._write(b"?")
            next_poll = time.monotonic() + STATUS_POLL_S
            state = self._next_status(flow, lines, report, bar)
            if state is None:
                return
            yield state
            while not flow.alarmed and (reply := self._read_line(next_poll)) is not None:
                self._answer(reply, flow, lines, report, bar)

    def _next_status(self, flow: _Flow, lines: Sequence[str], report: StreamReport, bar: tqdm) -> str | None:
        """The state in GRBL's next status report, accounting for the lines before it; None after an alarm."""
        while not flow.alarmed:
            reply = self._read_line(time.monotonic() + self.timeout_s)
            if reply is None:
                raise self._silence(flow)
            if reply.startswith("<"):
                return reply[1:].split("|", 1)[0]
            self._answer(reply, flow, lines, report, bar)
        return None

    def on_send(self, line: str, buffered_bytes: int) -> None:
        """Called after each line is written with the bytes now awaiting an answer; a hook for subclasses."""

    # ------------------------------------------------------------------------------------- recovery

    def _command(self, command: str) -> str | None:
        """Send one line outside the stream and return GRBL's answer to it (ok / error:N), or None."""
        self._write(command.encode("ascii") + b"\n")
        deadline = time.monotonic() + self.timeout_s
        while (reply := self._read_line(deadline)) is not None:
            if reply == "ok" or reply.startswith("error:"):
                return reply
        return None

    def _lift_pen(self, unlock: bool) -> None:
        if unlock:
            self._command("$X")
        self._command("M5")

    def _recover_from_alarm(self) -> None:
        """After ALARM:N GRBL waits for a reset (which also stops the spindle); then unlock and lift the pen."""
        self._write(b"\x18")
        if not self._wait_for_banner(time.monotonic() + self.timeout_s):
            raise StreamError(f"GRBL on {self.port} did not come back after a reset following an alarm")
        self._lift_pen(unlock=True)

    def _interrupt(self) -> None:
        """Ctrl-C on the host: feed hold, then soft reset, which stops the spindle and so lifts the pen."""
        try:
            self._write(b"!")
            self._write(b"\x18")
            self._serial.flush()
        except (StreamError, serial.SerialException, OSError):
            pass


@dataclass
class _Flow:
    """The bookkeeping of one stream: lines sent and not yet answered (index, bytes) and where sending is."""

    outstanding: deque[tuple[int, int]] = field(default_factory=deque)
    in_buffer: int = 0  # bytes sent and not yet answered: what GRBL's receive buffer may hold
    next_index: int = 0
    stopping: bool = False  # an error:N arrived: send nothing more
    alarmed: bool = False  # an ALARM:N arrived and the board was recovered: the stream is over
    last_acknowledged: int = 0  # 1-based number of the last line GRBL answered
    elapsed_s: Sequence[float] | None = None  # the plan's estimated time at the end of each line, for the ETA


def _waiting_for(index: int, flow: _Flow) -> bool:
    """True while line ``index`` has been sent and GRBL has not answered it yet."""
    return any(i == index for i, _ in flow.outstanding)


def _number(reply: str) -> int:
    try:
        return int(reply.split(":", 1)[1])
    except (IndexError, ValueError):
        return -1


def _reason(exc: BaseException) -> str:
    """One short clause for an exception from pyserial or the OS, e.g. "No such file or directory"."""
    seen: BaseException | None = exc
    while seen is not None:  # pyserial wraps the OSError it caught: prefer the OS's own words
        if isinstance(seen, OSError) and not isinstance(seen, serial.SerialException) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
