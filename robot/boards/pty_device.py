"""A simulated board behind a real pseudo-terminal, so a host talks to it through pyserial like to a USB board."""

from __future__ import annotations

import array
import copy
import fcntl
import os
import select
import termios
import threading
import time
import tty

from robot.boards.board import BoardSimulator
from robot.boards.sim_link import SimLink

POLL_INTERVAL_S = 0.01
HANG_UP_GRACE_S = 0.2  # the kernel hands written bytes to the host's side asynchronously: let them land first
_READ_CHUNK = 4096


class PtyPlotter:
    """Runs a simulated board behind a real pseudo-terminal; `port` is a device path pyserial can open.

    A daemon thread waits on the master side and moves bytes through a :class:`~robot.boards.sim_link.SimLink` at
    ``baud`` (scaled by the simulator's ``link_time_scale``; the baud rate the host sets on the pty is ignored):
    bytes from the host go to ``simulator.receive``, the answers go back, and ``simulator.poll`` runs at
    least every ``poll_interval_s`` and whenever the simulator or the line is due. Every call into the
    simulator holds :attr:`lock`, so other threads read the simulator safely under the same lock (or use
    :meth:`snapshot_strokes`). The device keeps its own slave fd open, so the master never sees EIO when a
    host closes the port and the plotter can be reconnected. If the simulator raises, the device thread
    records the exception in :attr:`failure` and hangs up the line, which the host sees as a disconnect; a
    simulator that hangs up by itself (``Faults.disconnect_after_lines``) is hung up the same way once the
    host has read its last answer.
    """

    def __init__(
        self, simulator: BoardSimulator, poll_interval_s: float = POLL_INTERVAL_S, baud: int = 115200
    ) -> None:
        self.simulator = simulator
        self.poll_interval_s = poll_interval_s
        self.baud = baud
        self.port = ""
        self.lock = threading.RLock()
        self.failure: BaseException | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> PtyPlotter:
        """Open the pseudo-terminal and start answering.

        The power-up banner is said before this returns (on a link without byte timing), like a board powered
        up long before a host connects: pyserial, which empties the input when it opens a port, never sees it.
        """
        if self._thread is not None:
            return self
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, no \n -> \r\n: bytes pass unchanged both ways
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._wake_r, self._wake_w = os.pipe()
        self.port = os.ttyname(slave)
        self._stopping.clear()
        with self.lock:
            link = SimLink(self.simulator, self.baud)
            said = link.pump()
        written = os.write(master, said) if said else 0
        self._thread = threading.Thread(
            target=self._run, args=(link, bytearray(said[written:])), name=f"PtyPlotter {self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the pseudo-terminal; prompt and safe to call twice."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        thread.join(timeout=1.0)
        self._thread = None
        self._close("_master", "_slave", "_wake_r", "_wake_w")

    def __enter__(self) -> PtyPlotter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshot_strokes(self) -> list[list[tuple[float, float]]]:
        """A copy of what the pen has drawn so far, taken under the lock."""
        with self.lock:
            return copy.deepcopy(self.simulator.strokes)

    def _run(self, link: SimLink, unsent: bytearray) -> None:
        """Move bytes both ways until stopped; ``unsent``: arrived at the host's end, not yet taken by the pty."""
        master, wake = self._master, self._wake_r
        last_write = time.monotonic()
        try:
            while not self._stopping.is_set():
                with self.lock:
                    due = link.due_in_s()
                timeout = self.poll_interval_s if due is None else min(due, self.poll_interval_s)
                readable, _, _ = select.select([master, wake], [master] if unsent else [], [], timeout)
                if wake in readable:
                    return
                data = b""
                if master in readable:
                    try:
                        data = os.read(master, _READ_CHUNK)
                    except (BlockingIOError, InterruptedError):
                        pass
                with self.lock:
                    if data:
                        link.write(data)
                    unsent += link.pump()
                    hung_up = link.hung_up
                if unsent:
                    try:
                        written = os.write(master, unsent)
                    except (BlockingIOError, InterruptedError):
                        written = 0
                    del unsent[:written]
                    last_write = time.monotonic()
                if hung_up and not unsent and time.monotonic() - last_write >= HANG_UP_GRACE_S:
                    if not self._unread_by_host():  # closing the master throws away what the host has not read
                        self._hang_up()
                        return
        except Exception as exc:  # the simulator or the line failed: the host sees a hang-up
            self.failure = exc
            self._hang_up()

    def _unread_by_host(self) -> int:
        """Bytes written to the line that the host has not read yet."""
        count = array.array("i", [0])
        fcntl.ioctl(self._slave, termios.FIONREAD, count)
        return count[0]

    def _hang_up(self) -> None:
        self._close("_master", "_slave")

    def _close(self, *names: str) -> None:
        """Close the named file descriptors once each."""
        for name in names:
            fd = getattr(self, name)
            setattr(self, name, None)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
