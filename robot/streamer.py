"""Stream G-code to a GRBL 1.1 board over a serial port with GRBL's character-counting protocol.

The host keeps the byte length of every line it has sent and GRBL has not yet answered; a new line goes out
only while all of them together still fit GRBL's serial receive buffer (127 bytes). Each ``ok`` or
``error:N`` answers the oldest line. This keeps the board's buffer full without ever overflowing it.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import serial
from tqdm import tqdm

from gcode.reader import strip_comment

_NOT_IN_A_LINE = frozenset("?!~\x18")  # realtime commands: GRBL acts on them at once, wherever they appear
READ_POLL_S = 0.05  # the serial read timeout; deadlines are kept by the streamer itself
STATUS_WAIT_S = 1.0  # how long to wait for the answer to '?' once the board has stopped answering lines

GRBL_ERRORS: dict[int, str] = {
    1: "G-code words consist of a letter and a value. Letter was not found.",
    2: "Numeric value format is not valid or missing an expected value.",
    3: "Grbl '$' system command was not recognized or supported.",
    4: "Negative value received for an expected positive value.",
    5: "Homing cycle is not enabled via settings.",
    6: "Minimum step pulse time must be greater than 3usec.",
    7: "EEPROM read failed. Reset and restored to default values.",
    8: "Grbl '$' command cannot be used unless Grbl is IDLE. Ensures smooth operation during a job.",
    9: "G-code locked out during alarm or jog state.",
    10: "Soft limits cannot be enabled without homing also enabled.",
    11: "Max characters per line exceeded. Line was not processed and executed.",
    12: "Grbl '$' setting value exceeds the maximum step rate supported.",
    13: "Safety door detected as opened and door state initiated.",
    14: "Build info or startup line exceeded EEPROM line length limit.",
    15: "Jog target exceeds machine travel. Command ignored.",
    16: "Jog command with no '=' or contains prohibited g-code.",
    17: "Laser mode requires PWM output.",
    20: "Unsupported or invalid g-code command found in block.",
    21: "More than one g-code command from same modal group found in block.",
    22: "Feed rate has not yet been set or is undefined.",
    23: "G-code command in block requires an integer value.",
    24: "Two G-code commands that both require the use of the XYZ axis words were detected in the block.",
    25: "A G-code word was repeated in the block.",
    26: "A G-code command implicitly or explicitly requires XYZ axis words in the block, but none were detected.",
    27: "N line number value is not within the valid range of 1 - 9,999,999.",
    28: "A G-code command was sent, but is missing some required P or L value words in the line.",
    29: "Grbl supports six work coordinate systems G54-G59. G59.1, G59.2, and G59.3 are not supported.",
    30: "The G53 G-code command requires either a G0 seek or G1 feed motion mode to be active.",
    31: "There are unused axis words in the block and G80 motion mode cancel is active.",
    32: "A G2 or G3 arc was commanded but there are no XYZ axis words in the selected plane to trace the arc.",
    33: "The motion command has an invalid target. G2, G3, and G38.2 generates this error.",
    34: "A G2 or G3 arc, traced with the radius definition, had a mathematical error when computing the arc "
    "geometry.",
    35: "A G2 or G3 arc, traced with the offset definition, is missing the IJK offset word in the selected plane.",
    36: "There are unused, leftover G-code words that aren't used by any command in the block.",
    37: "The G43.1 dynamic tool length offset command cannot apply an offset to an axis other than its configured "
    "axis.",
    38: "Tool number greater than max supported value.",
}

GRBL_ALARMS: dict[int, str] = {
    1: "Hard limit triggered. Machine position is likely lost due to sudden and immediate halt.",
    2: "G-code motion target exceeds machine travel. Machine position safely retained.",
    3: "Reset while in motion. Grbl cannot guarantee position. Lost steps are likely.",
    4: "Probe fail. The probe is not in the expected initial state before starting probe cycle.",
    5: "Probe fail. Probe did not contact the workpiece within the programmed travel.",
    6: "Homing fail. Reset during active homing cycle.",
    7: "Homing fail. Safety door was opened during active homing cycle.",
    8: "Homing fail. Cycle failed to clear limit switch when pulling off.",
    9: "Homing fail. Could not find limit switch within search distance.",
}

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


def error_meaning(code: int) -> str:
    return GRBL_ERRORS.get(code, "Unknown GRBL error.")


def alarm_meaning(code: int) -> str:
    return GRBL_ALARMS.get(code, "Unknown GRBL alarm.")


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

    def stream(self, lines: Sequence[str], progress: bool = True) -> StreamReport:
        """Send ``lines`` with character counting; returns a report, or raises StreamError if GRBL is lost.

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
            self._stream(cleaned, lines, report, bar)
        except KeyboardInterrupt:
            self._interrupt()
            raise
        finally:
            bar.close()
            report.seconds = time.monotonic() - started
        return report

    def _stream(self, cleaned: list[str], lines: Sequence[str], report: StreamReport, bar: tqdm) -> None:
        outstanding: deque[tuple[int, int]] = deque()  # (index into lines, bytes) sent and not yet answered
        in_buffer = 0
        next_index = 0
        stopping = False
        last_acknowledged = 0  # 1-based number of the last line GRBL answered
        while True:
            while not stopping and next_index < len(cleaned):
                code = cleaned[next_index]
                if not code:  # nothing for GRBL: counted as done without sending
                    next_index += 1
                    report.lines_acknowledged += 1
                    bar.update(1)
                    continue
                data = (code + "\n").encode("ascii", "replace")
                if in_buffer + len(data) > self.rx_buffer_bytes:
                    break
                self._write(data)
                self.on_send(code, in_buffer + len(data))
                outstanding.append((next_index, len(data)))
                in_buffer += len(data)
                report.lines_sent += 1
                next_index += 1
            if not outstanding:
                break
            reply = self._read_line(time.monotonic() + self.timeout_s)
            if reply is None:
                status = self._ask_status()
                raise StreamError(
                    f"GRBL on {self.port} stopped answering: nothing for {self.timeout_s:g} s after line "
                    f"{last_acknowledged} was acknowledged; status: {status}"
                )
            if reply == "ok" or reply.startswith("error:"):
                index, size = outstanding.popleft()
                in_buffer -= size
                report.lines_acknowledged += 1
                last_acknowledged = index + 1
                bar.update(1)
                if reply != "ok":
                    code = _number(reply)
                    line = lines[index].strip()
                    report.errors.append(
                        {"line_no": index + 1, "line": line, "code": code, "meaning": error_meaning(code)}
                    )
                    stopping = True
            elif reply.startswith("ALARM:"):
                code = _number(reply)
                where = f"line {outstanding[0][0] + 1}: {lines[outstanding[0][0]].strip()}"
                report.alarm = f"ALARM:{code} at {where} ({alarm_meaning(code)})"
                self._recover_from_alarm()
                return
            elif reply.startswith("Grbl"):
                raise StreamError(
                    f"GRBL on {self.port} reset itself during the stream after line {last_acknowledged}"
                )
            # anything else ([MSG:...], [HLP:...], <status>) is information, not an answer
        if stopping:
            self._lift_pen(unlock=False)

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
