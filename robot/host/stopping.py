"""Signals that stop a job: SIGTERM and SIGHUP taken like Ctrl-C, and further signals held off during a stop.

A plotter must not be left with its pen down, whatever ends the program: Ctrl-C (SIGINT), ``kill``,
systemd or docker stopping it (SIGTERM), or its terminal closing (SIGHUP). :func:`stop_on_signals` makes
SIGTERM and SIGHUP raise :class:`Terminated`, a KeyboardInterrupt, so every ``except KeyboardInterrupt``
that stops the machine safely serves them too; the command line installs it for the run of a command.
:func:`signals_deferred` holds off SIGINT, SIGTERM and SIGHUP while a streamer stops the machine (feed
hold, reset, pen up, journal), so a second Ctrl-C cannot cut that short; the stop ends by raising the
first interruption, so the deferred ones are not raised again.

Signal handlers belong to the process and can only be set from the main thread: off the main thread both
context managers do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived (under :func:`stop_on_signals`); ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def signal_of(exc: BaseException | None) -> int:
    """The signal behind an interruption: ``exc.signum`` if it has one, else SIGINT (Ctrl-C)."""
    return getattr(exc, "signum", None) or signal.SIGINT


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextmanager
def _handlers(signums: tuple[int, ...], handler) -> Iterator[None]:
    if not _in_main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While inside: SIGTERM and SIGHUP raise Terminated (a KeyboardInterrupt); the old handlers come back after."""
    with _handlers(STOP_SIGNALS, _raise_terminated):
        yield


@contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """While inside: SIGINT, SIGTERM and SIGHUP are noted (in the list yielded), not acted on."""
    arrived: list[int] = []
    with _handlers((signal.SIGINT, *STOP_SIGNALS), lambda signum, frame: arrived.append(signum)):
        yield arrived
