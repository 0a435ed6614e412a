"""A GrblSimulator behind a real pseudo-terminal, so a host talks to it through pyserial like to a USB board."""

from __future__ import annotations

import copy
import os
import select
import threading
import tty

from robot.grbl_sim import GrblSimulator

POLL_INTERVAL_S = 0.01
_READ_CHUNK = 4096


class PtyPlotter:
    """Runs a GrblSimulator behind a real pseudo-terminal; `port` is a device path pyserial can open.

    A daemon thread waits on the master side: bytes from the host go to ``simulator.receive`` and the answer
    goes back; between arrivals it calls ``simulator.poll`` every ``poll_interval_s``. Every call into the
    simulator holds :attr:`lock`, so other threads read the simulator safely under the same lock (or use
    :meth:`snapshot_strokes`). The device keeps its own slave fd open, so the master never sees EIO when a
    host closes the port and the plotter can be reconnected. If the simulator raises, the device thread
    records the exception in :attr:`failure` and hangs up the line, which the host sees as a disconnect.
    """

    def __init__(self, simulator: GrblSimulator, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self.simulator = simulator
        self.poll_interval_s = poll_interval_s
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
        """Open the pseudo-terminal and start answering; the power-up banner is waiting when the host reads."""
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
            pending = bytearray(self.simulator.banner())
        self._thread = threading.Thread(
            target=self._run, args=(pending,), name=f"PtyPlotter {self.port}", daemon=True
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

    def _run(self, pending: bytearray) -> None:
        master, wake = self._master, self._wake_r
        try:
            while not self._stopping.is_set():
                writers = [master] if pending else []
                readable, writable, _ = select.select([master, wake], writers, [], self.poll_interval_s)
                if wake in readable:
                    return
                if master in readable:
                    try:
                        data = os.read(master, _READ_CHUNK)
                    except (BlockingIOError, InterruptedError):
                        data = b""
                    if data:
                        with self.lock:
                            pending += self.simulator.receive(data)
                with self.lock:
                    pending += self.simulator.poll()
                if pending and (master in writable or not writers):
                    try:
                        written = os.write(master, pending)
                    except (BlockingIOError, InterruptedError):
                        written = 0
                    del pending[:written]
        except Exception as exc:  # the simulator or the line failed: the host sees a hang-up
            self.failure = exc
            self._hang_up()

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
