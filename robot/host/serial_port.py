"""The host's end of a serial line: opened with pyserial's ``serial_for_url``, bytes out, answers in by lines.

Every failure of the port or the operating system becomes a :class:`StreamError` with one short sentence.
"""

from __future__ import annotations

import time

import serial

READ_POLL_S = 0.05  # the serial read timeout; deadlines are kept by the reader itself


class StreamError(RuntimeError):
    """Streaming could not go on: no port, no board, no answer or a lost connection; the message says which.

    ``report`` is the :class:`~robot.host.stream_base.StreamReport` of the stream it ended, if one had begun.
    """

    report = None


class SerialPort:
    """A serial port (a device path or any pyserial URL) read line by line against deadlines."""

    def __init__(self, url: str, baudrate: int, write_timeout_s: float) -> None:
        self.url = url
        self._buffer = bytearray()
        try:
            self._serial: serial.SerialBase | None = serial.serial_for_url(
                url, baudrate=baudrate, timeout=READ_POLL_S, write_timeout=write_timeout_s
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise StreamError(f"cannot open serial port {url}: {reason(exc)}") from None

    @property
    def closed(self) -> bool:
        return self._serial is None

    def close(self) -> None:
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def discard_input(self) -> None:
        """Forget everything received so far."""
        self._buffer.clear()
        try:
            self._serial.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise StreamError(f"cannot use serial port {self.url}: {reason(exc)}") from None

    def write(self, data: bytes) -> None:
        try:
            self._serial.write(data)
        except (serial.SerialException, OSError) as exc:
            raise self.lost(exc) from None

    def flush(self) -> None:
        """Wait until everything written has left."""
        try:
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise self.lost(exc) from None

    def read_line(self, deadline: float) -> str | None:
        """The next non-empty line the board sends, or None when the monotonic ``deadline`` passes first."""
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
                raise self.lost(exc) from None
            self._buffer += chunk

    def lost(self, exc: BaseException) -> StreamError:
        return StreamError(f"lost the connection to {self.url}: {reason(exc)}")


def reason(exc: BaseException) -> str:
    """One short clause for an exception from pyserial or the OS, e.g. "No such file or directory"."""
    seen: BaseException | None = exc
    while seen is not None:  # pyserial wraps the OSError it caught: prefer the OS's own words
        if isinstance(seen, OSError) and not isinstance(seen, serial.SerialException) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
