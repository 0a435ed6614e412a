"""What the GRBL and Marlin streamers share: the report, the frame of a stream, acknowledgements, pen lifts.

A stream accounts for every line: skipped (nothing in it for the board: a comment, a blank line),
acknowledged (sent and answered ``ok``), failed (sent and refused by the board: ``errors``), or neither
(never sent, or lost when the stream ended early). Ctrl-C (or SIGTERM, SIGHUP under
:func:`robot.host.stopping.stop_on_signals`) ends a stream with :class:`StreamInterrupted`, which carries the
report, once the streamer has stopped the machine and lifted the pen. Any other exception on the way (a
journal that cannot be written, a failed prompt at a pen change, a bug) stops the machine the same way, then
goes on up with the report as its ``report``; only a lost board (StreamError) is not stopped, there being
nothing to stop it with.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from robot.firmware.grbl_status import MachineStatus
from robot.host.progress import StreamProgress
from robot.host.serial_port import SerialPort, StreamError
from robot.host.stopping import signal_of, signals_deferred

DRAIN_S = 0.5  # after a failure, how long to wait for answers still on their way


@dataclass
class StreamReport:
    """What happened to a stream: counts, the errors the board reported, an alarm if any, and the duration.

    The counts never contradict each other: ``lines_sent`` lines were written to the board, and of those
    ``lines_acknowledged`` were answered ``ok`` (so never more than were sent); ``lines_skipped`` had nothing
    for the board (comments, blank lines) and were not sent. Every line is one of skipped, sent or neither.
    ``bytes_sent``: the bytes of the program's lines written to the port (line endings and resends
    included). ``resends``: lines sent again because the board asked for them (Marlin). ``stopped_at_mm``:
    where the machine stood after the streamer stopped it with lines possibly still queued (Ctrl-C, an
    alarm), as the board reported it; lines acknowledged but still queued were dropped by that stop.
    ``interrupted``: the streamer stopped the machine mid-stream (Ctrl-C, a signal, an exception).
    ``last_sent_line``: the program's number of the last line written to the board (0: none yet; lines of
    a resume's preamble do not count): every line up to it may have run, answered or not.
    """

    lines_total: int
    lines_sent: int = 0
    lines_acknowledged: int = 0
    lines_skipped: int = 0
    errors: list[dict] = field(default_factory=list)
    alarm: str | None = None
    seconds: float = 0.0
    bytes_sent: int = 0
    resends: int = 0
    interrupted: bool = False
    stopped_at_mm: tuple[float, float, float] | None = None
    last_sent_line: int = 0

    @property
    def ok(self) -> bool:
        """True when every line was acknowledged with ``ok`` or skipped, and nothing went wrong."""
        done = self.lines_acknowledged + self.lines_skipped == self.lines_total
        return done and not self.errors and self.alarm is None and not self.interrupted

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class StreamInterrupted(KeyboardInterrupt):
    """Ctrl-C during a stream, raised once the machine is stopped and the pen lifted; ``report``: what was done.

    ``signum``: the signal that interrupted it (SIGINT for Ctrl-C, or SIGTERM, SIGHUP).
    """

    def __init__(self, report: StreamReport, signum: int = signal.SIGINT) -> None:
        super().__init__("stream interrupted")
        self.report = report
        self.signum = signum


@dataclass
class StreamJob:
    """One stream's lines, what goes to the board for each ("" for nothing), and what has become of them.

    ``numbers``: each line's number in the program, None for a line of a resume's preamble; reports and
    messages name lines by it, so that a resumed job's errors point at the program's own lines.
    """

    lines: Sequence[str]
    payloads: list[str]
    report: StreamReport
    progress: StreamProgress
    on_ack: Callable[[int], None] | None
    numbers: Sequence[int | None]
    last_acknowledged: int = 0  # 1-based index (in ``lines``) of the last line the board answered

    def acknowledge(self, index: int) -> None:
        """Line ``index`` (0-based), sent, was answered ``ok``."""
        self.report.lines_acknowledged += 1
        self._done(index, answered=True)

    def skip(self, index: int) -> None:
        """Line ``index`` (0-based) has nothing for the board: done without sending.

        ``on_ack`` hears of it all the same: a journal records it as done, so that a resume starts after it.
        """
        self.report.lines_skipped += 1
        self._done(index, answered=False)

    def _done(self, index: int, answered: bool) -> None:
        self.last_acknowledged = index + 1
        self.progress.advance(index, answered)
        if self.on_ack is not None:
            self.on_ack(index)

    def sent(self, index: int, data: bytes) -> None:
        """Line ``index`` (0-based) was written to the board as ``data``."""
        self.report.lines_sent += 1
        self.report.bytes_sent += len(data)
        self.report.last_sent_line = self.numbers[index] or self.report.last_sent_line

    def fail(self, index: int, code: int | str, meaning: str) -> None:
        """The board refused line ``index``."""
        self.last_acknowledged = index + 1
        self.progress.advance(index)
        line = self.lines[index].strip()
        self.report.errors.append({"line_no": self.numbers[index], "line": line, "code": code, "meaning": meaning})

    def line_name(self, index: int) -> str:
        """How messages name line ``index`` (0-based): see :func:`line_name`."""
        return line_name(self.numbers, index)

    def last_answered(self) -> str:
        """How messages name the last line the board answered: "line 0" before the first."""
        return self.line_name(self.last_acknowledged - 1) if self.last_acknowledged else "line 0"


def line_name(numbers: Sequence[int | None], index: int) -> str:
    """How messages name line ``index`` (0-based) of a stream: "line N" of the program, or its place in a preamble."""
    number = numbers[index]
    if number is not None:
        return f"line {number}"
    first = index
    while first > 0 and numbers[first - 1] is None:
        first -= 1
    after = next((n for n in numbers[index:] if n is not None), None)
    return f"line {index - first + 1} of the resume preamble" + (f" before line {after}" if after else "")


class Streamer:
    """Streams G-code lines to a board on ``port`` (a device path or any pyserial URL); a base class.

    ``pen_up``: the machine's pen-up lines (``gcode.dialects.dialect_for(profile).pen_up``), sent after a
    fault or Ctrl-C wherever the board still takes commands. ``timeout_s``: how long the board may stay
    silent (and, on GRBL, not running) before the stream is declared lost.
    """

    firmware = ""  # "GRBL" or "Marlin": how messages name the board
    Job: type[StreamJob] = StreamJob  # the bookkeeping a protocol needs for one stream
    # The board's status when connecting found it stopped with what a previous sender had queued dropped (an
    # alarm, a feed hold cleared by a reset): lines that sender saw acknowledged may not have run. None: nothing
    # was dropped, or the protocol cannot tell.
    queue_dropped_at: MachineStatus | None = None

    def __init__(self, port: str, baudrate: int, timeout_s: float, pen_up: Sequence[str]) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self.pen_up = tuple(pen_up)
        self._port = SerialPort(port, baudrate, timeout_s)
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._port.close()

    def __enter__(self) -> Streamer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stream(
        self,
        lines: Sequence[str],
        progress: bool = True,
        on_pause: Callable[[str], None] | None = None,
        elapsed_s: Sequence[float] | None = None,
        on_ack: Callable[[int], None] | None = None,
        line_numbers: Sequence[int | None] | None = None,
    ) -> StreamReport:
        """Send ``lines``; returns a report, or raises StreamError if the board is lost.

        At a program pause (``M0``/``M1``) ``on_pause`` is called with the pause's message (e.g. "change to
        pen red") once the machine has stopped, and the stream goes on when it returns; with None it goes on
        at once. ``elapsed_s`` (the plan's estimated time at the end of each line) gives the progress bar its
        ETA. ``on_ack`` is called with the 0-based index of every line acknowledged, as it is.
        ``line_numbers`` gives each line's number in the program (None for a resume's preamble), by which the
        report's errors and alarm and every message name it; by default line i is line i + 1.
        Ctrl-C stops the machine, lifts the pen and raises StreamInterrupted; any other exception but
        StreamError (from ``on_pause``, ``on_ack``, anywhere) does the same and is raised again, with the report
        as its ``report``. Signals are held off while the machine is being stopped.
        """
        if self._port.closed:
            raise StreamError(f"the connection to {self.port} is closed")
        started = time.monotonic()
        numbers = list(range(1, len(lines) + 1)) if line_numbers is None else line_numbers
        payloads = self._payloads(lines, numbers)
        report = StreamReport(lines_total=len(lines))
        bar = StreamProgress(len(lines), elapsed_s, enabled=progress)
        job = self.Job(lines, payloads, report, bar, on_ack, numbers)
        try:
            self._stream(job, on_pause)
        except StreamError as exc:
            self._drain(job)
            exc.report = report
            raise
        except BaseException as exc:
            report.interrupted = True
            self._stop_safely(job)
            if isinstance(exc, KeyboardInterrupt):
                raise StreamInterrupted(report, signal_of(exc)) from None
            exc.report = report
            raise
        finally:
            bar.close()
            report.seconds = time.monotonic() - started
        return report

    def check(
        self, lines: Sequence[str], progress: bool = True, line_numbers: Sequence[int | None] | None = None
    ) -> StreamReport:
        """Have the board parse every line and move nothing (GRBL's check mode); the report lists every error."""
        raise NotImplementedError

    def on_send(self, line: str, buffered_bytes: int) -> None:
        """Called after each program line is written with the bytes now awaiting an answer; a hook for subclasses."""

    def _stop_safely(self, job: StreamJob) -> None:
        """The stream ended early: stop the machine and lift the pen, with signals held off until it is done.

        Lines answered during the stop still reach ``on_ack``, but its failures (a journal that cannot be
        written, which may be what ended the stream) no longer stop anything. A failure of the stop itself is
        not raised, the exception that ended the stream is what goes on up; the pen-up lines are tried again.
        """
        on_ack = job.on_ack
        if on_ack is not None:

            def on_ack_while_stopping(index: int) -> None:
                try:
                    on_ack(index)
                except Exception:  # noted by whatever failed (Journal.write_error); the pen comes first
                    pass

            job.on_ack = on_ack_while_stopping
        with signals_deferred():
            try:
                self._interrupt(job)
            except Exception:  # the exception that ended the stream is the one to report
                try:
                    self._lift_pen()
                except Exception:
                    pass

    def _lift_pen(self) -> None:
        """Send the machine's pen-up lines outside the stream, each waiting for its answer."""
        for line in self.pen_up:
            payload = self._payload(line)
            if payload:
                self._command(payload)

    def _drain(self, job: StreamJob) -> None:
        """After the stream failed: account for the answers that had arrived but were not read yet."""
        try:
            while (reply := self._port.read_line(time.monotonic() + DRAIN_S)) is not None:
                self._answer(reply, job)
        except StreamError:
            pass  # nothing more to read

    def _refuse(self, numbers: Sequence[int | None], index: int, why: str) -> StreamError:
        """The error for line ``index`` (0-based), which cannot be sent: nothing is."""
        return StreamError(f"{line_name(numbers, index)} {why}; nothing was sent")

    # ------------------------------------------------------------------------ what a protocol defines

    def _connect(self) -> None:
        """Make sure a board of this firmware answers, in a known state."""
        raise NotImplementedError

    def _payload(self, line: str) -> str:
        """What of a program line goes to the board ("" for nothing)."""
        raise NotImplementedError

    def _payloads(self, lines: Sequence[str], numbers: Sequence[int | None]) -> list[str]:
        """Every line's payload, checked before anything is sent (StreamError names the first bad line)."""
        raise NotImplementedError

    def _stream(self, job: StreamJob, on_pause: Callable[[str], None] | None) -> None:
        raise NotImplementedError

    def _answer(self, reply: str, job: StreamJob) -> None:
        """Account for one line the board sent."""
        raise NotImplementedError

    def _command(self, payload: str) -> str | None:
        """Send one line outside the stream and return the board's answer to it, or None."""
        raise NotImplementedError

    def _interrupt(self, job: StreamJob) -> None:
        """Ctrl-C: stop the machine where it is, drop what is queued, lift the pen; never raises StreamError."""
        raise NotImplementedError
