"""pyserial's ``sim://`` port: a simulated GRBL or Marlin board behind an in-memory serial line, without threads.

pyserial finds this module through ``serial.protocol_handler_packages`` (see :func:`robot.boards.sim_url.register`).
The board works whenever the host touches the port (read, write, in_waiting); between calls its clock
keeps running, and the next call catches up, so motion takes its time whether the host waits or not.
"""

from __future__ import annotations

import time

from serial.serialutil import PortNotOpenError, SerialBase, SerialException, to_bytes

from robot.boards.board import BoardSimulator
from robot.boards.sim_link import SimLink
from robot.boards.sim_url import parse_sim_url

_NAP_S = 0.05  # the longest sleep while waiting for bytes that nothing in the board has scheduled
HUNG_UP = "device disconnected: the simulated board hung up"


class Serial(SerialBase):
    """A ``sim://`` URL opened by pyserial; :attr:`simulator` is the board behind it once open."""

    def __init__(self, *args, **kwargs) -> None:
        self.simulator: BoardSimulator | None = None
        self._link: SimLink | None = None
        self._received = bytearray()  # arrived at the host's end, not yet read
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        try:
            self.simulator = parse_sim_url(self._port).simulator()
            self._link = SimLink(self.simulator, self._baudrate)
        except ValueError as exc:  # bad parameters, an unreadable profile, a bad baud rate
            raise SerialException(f"cannot open {self._port}: {exc}") from None
        self._received.clear()
        self.is_open = True

    def close(self) -> None:
        self.is_open = False  # the board stays in robot.boards.sim_url.NAMED_SIMULATORS if it was named

    def _reconfigure_port(self) -> None:
        if self._link is not None:
            self._link.set_baud(self._baudrate)

    # ------------------------------------------------------------------------------------------ I/O

    def _pump(self) -> SimLink:
        if not self.is_open:
            raise PortNotOpenError()
        self._received += self._link.pump()
        return self._link

    @property
    def in_waiting(self) -> int:
        link = self._pump()
        if link.hung_up and not self._received:
            raise SerialException(HUNG_UP)
        return len(self._received)

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes, waiting at most ``timeout`` seconds; SerialException once the board hung up."""
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            link = self._pump()
            if len(self._received) >= size:
                break
            if link.hung_up:
                if self._received:
                    break
                raise SerialException(HUNG_UP)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            time.sleep(min(s for s in (link.due_in_s(), left, _NAP_S) if s is not None))
        data = bytes(self._received[:size])
        del self._received[:size]
        return data

    def write(self, data: bytes) -> int:
        """Send ``data`` down the line (never blocks); SerialException once the board hung up."""
        link = self._pump()
        if link.hung_up:
            raise SerialException(f"write failed: {HUNG_UP}")
        data = to_bytes(data)
        link.write(data)
        self._received += link.pump()
        return len(data)

    def flush(self) -> None:
        """Wait until everything written has reached the board."""
        link = self._pump()
        while len(link.to_board) and not link.hung_up:
            time.sleep(min(s for s in (link.due_in_s(), _NAP_S) if s is not None))
            link = self._pump()

    def reset_input_buffer(self) -> None:
        self._pump()
        self._received.clear()

    def reset_output_buffer(self) -> None:
        self._pump().to_board.clear()

    @property
    def out_waiting(self) -> int:
        return len(self._pump().to_board)

    # ------------------------------------------------------------------ modem lines: nothing to model

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
