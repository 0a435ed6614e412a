"""A simulated board at the end of a serial line: bytes take the time of the baud rate in both directions.

The pseudo-terminal device and the ``sim://`` pyserial URL both talk to the simulator through a
:class:`SimLink`, so both move bytes at the same rate: 8N1 framing, 10 bits a byte, so 115200 baud
carries at most 11,520 bytes a second, scaled by the simulator's ``link_time_scale`` (which is its
``time_scale`` unless set apart; 0: no limit).
"""

from __future__ import annotations

import math

from robot.boards.board import BoardSimulator

BITS_PER_BYTE = 10  # 8N1: a start bit, 8 data bits, a stop bit


def byte_seconds(baud: int, time_scale: float) -> float:
    """Clock seconds one byte takes on the line (0 when ``time_scale`` is 0: no limit)."""
    if baud <= 0:
        raise ValueError(f"baud must be positive, not {baud}")
    return BITS_PER_BYTE * time_scale / baud


class SerialLine:
    """One direction of a UART: bytes sent at ``now`` arrive one every ``byte_s`` seconds (0: at once)."""

    def __init__(self, byte_s: float) -> None:
        self.byte_s = byte_s
        self._queue = bytearray()
        self._free_t = -math.inf  # when the line has finished the bytes delivered so far

    def __len__(self) -> int:
        """Bytes sent and not yet delivered."""
        return len(self._queue)

    def send(self, data: bytes, now: float) -> None:
        if data and not self._queue:
            self._free_t = max(self._free_t, now)  # an idle line starts the first byte now
        self._queue += data

    def deliver(self, now: float) -> bytes:
        """The bytes whose last bit has arrived by ``now``."""
        if not self._queue:
            return b""
        if self.byte_s == 0:
            count = len(self._queue)
        else:
            count = min(len(self._queue), int((now - self._free_t) / self.byte_s + 1e-9))  # 1e-9: rounding
            self._free_t += count * self.byte_s
        data = bytes(self._queue[:count])
        del self._queue[:count]
        return data

    def due_in_s(self, now: float) -> float | None:
        """Seconds until the next byte arrives; None when nothing is on the way."""
        if not self._queue:
            return None
        return max(0.0, self._free_t + self.byte_s - now)

    def clear(self) -> None:
        """Forget the bytes still on the way (a flushed output buffer)."""
        self._queue.clear()


class SimLink:
    """A BoardSimulator behind a serial line at ``baud``; no threads: the owner calls :meth:`pump` in time.

    Time comes from the simulator's clock. The power-up banner is on its way from the start. ``hung_up``
    turns true once the simulator has hung up and everything it said before has been delivered.
    """

    def __init__(self, simulator: BoardSimulator, baud: int = 115200) -> None:
        self.simulator = simulator
        byte_s = byte_seconds(baud, simulator.settings.link_scale)
        self.to_board = SerialLine(byte_s)
        self.to_host = SerialLine(byte_s)
        self.to_host.send(simulator.banner(), simulator.clock())

    def set_baud(self, baud: int) -> None:
        """Change the rate of both directions (the bytes on the way keep their place in the queue)."""
        self.to_board.byte_s = self.to_host.byte_s = byte_seconds(baud, self.simulator.settings.link_scale)

    def write(self, data: bytes) -> None:
        """The host sends ``data``: it reaches the board byte by byte."""
        self.to_board.send(data, self.simulator.clock())

    def pump(self) -> bytes:
        """Deliver what has arrived to the board, let it work, and return what has arrived at the host."""
        sim = self.simulator
        now = sim.clock()
        arrived = self.to_board.deliver(now)
        answer = sim.receive(arrived) if arrived else b""
        answer += sim.poll()
        self.to_host.send(answer, now)
        return self.to_host.deliver(now)

    def due_in_s(self) -> float | None:
        """Seconds until the link next has something to do; None when only new input can wake it."""
        now = self.simulator.clock()
        due = (self.to_board.due_in_s(now), self.to_host.due_in_s(now), self.simulator.due_in_s())
        return min((d for d in due if d is not None), default=None)

    @property
    def hung_up(self) -> bool:
        return self.simulator.hung_up and not self.to_host
