"""The live progress of a stream: lines done, lines per second, the ETA at the machine's pace, its state.

On a terminal it is tqdm's bar, redrawn in place; anywhere else (a pipe, CI, a log file) :class:`LogLines`
writes the same text as a plain line every ``LOG_INTERVAL_S`` and once at the end, without ``\\r`` or ANSI
codes. ``strokeopt.progress`` has the twin of :func:`progress_bar` (strokeopt does not import robot).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from tqdm import tqdm

BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} lines [{elapsed}, {rate_fmt}{postfix}]"
LOG_INTERVAL_S = 5.0  # off a terminal: at most one progress line this often, and one at the end
PACE_FROM_S = 0.25  # the machine's pace is measured from the first line answered this long into the stream
PACE_OVER_S = 0.25  # ... and used once it covers this much real time


def clock_text(seconds: float) -> str:
    """Seconds as a clock reads them: "4:05", "1:02:03"."""
    minutes, secs = divmod(round(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def machine_eta_s(plan_left_s: float, real_s: float, plan_s: float) -> float:
    """The time left: the plan's ``plan_left_s`` at the machine's pace, ``real_s`` real seconds for ``plan_s``.

    A machine that took 2 s for 200 s of the plan (a simulator) has 100 s of plan left in 1 s; with no plan
    time covered yet (``plan_s`` 0) the plan's own clock is all there is.
    """
    return plan_left_s * real_s / plan_s if plan_s > 0 else plan_left_s


class LogLines(tqdm):
    """A tqdm for output that is not a terminal: its text as a plain line every ``interval_s`` and at the end.

    ``interval_s``: ``LOG_INTERVAL_S`` unless given.
    No ``\\r``, no ANSI codes, an ASCII bar; tqdm's own clearing of the line is skipped (a log keeps its lines).
    """

    def __init__(self, *args: Any, interval_s: float | None = None, **kwargs: Any) -> None:
        interval_s = LOG_INTERVAL_S if interval_s is None else interval_s
        self._interval_s = interval_s
        self._written_t: float | None = None
        kwargs.update(ascii=True, leave=False, colour=None, dynamic_ncols=False, mininterval=interval_s)
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg is not None:  # tqdm clearing its line: nothing to clear in a log (False: no '\r' after it)
            return False
        now = self._time()
        if self._written_t is not None and now - self._written_t < self._interval_s:
            return True
        self._written_t = now
        self.fp.write(str(self).rstrip() + "\n")
        self.fp.flush()
        return True

    def close(self) -> None:
        if not self.disable:
            self._written_t = None
            self.display()  # the last line, whenever the one before was written
        super().close()


def is_terminal(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal that redraws a line on ``\\r``."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def progress_bar(iterable: Any = None, *, enabled: bool = True, file: TextIO | None = None, **kwargs: Any) -> tqdm:
    """A tqdm over ``iterable`` (or ``total=``) on ``file`` (stderr): a live bar on a terminal, else :class:`LogLines`.

    ``kwargs`` go to tqdm; off a terminal ``mininterval``, ``leave``, ``ascii`` and ``dynamic_ncols`` are set by
    LogLines.
    """
    stream = sys.stderr if file is None else file
    kind = tqdm if is_terminal(stream) else LogLines
    return kind(iterable, file=stream, disable=not enabled, **kwargs)


class StreamProgress:
    """The progress of a stream over a program's lines, with an ETA at the machine's pace and its state.

    ``elapsed_s`` is the plan's estimated time at the end of each line (``gcode.stats.elapsed_seconds``);
    without it the bar shows no ETA. The ETA is the plan's time after the last line the board answered,
    scaled by the machine's pace: the real time per planned second between the first line answered
    ``PACE_FROM_S`` into the stream and the last one (the plan's own clock until that covers ``PACE_OVER_S``),
    with the time spent waiting for the operator (:meth:`paused` to :meth:`resumed`) left out. A board that
    runs 100 times faster than the plan (the simulator) shows seconds, not the plan's minutes.

    An approximation: the board answers a line when it takes it into its planner (GRBL: up to 15 moves), not
    when it has run it, so the line taken for the one running is ahead by what the planner holds. Measuring
    the pace from a line past the start, once the planner has filled, keeps that lead out of the pace; the
    ETA itself ends early by the planner's moves. :meth:`machine` adds what the board last said about itself.
    """

    def __init__(
        self,
        total: int,
        elapsed_s: Sequence[float] | None = None,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bar = progress_bar(
            total=total, enabled=enabled, unit=" lines", desc="streaming", leave=False, bar_format=BAR_FORMAT
        )
        self._elapsed_s = elapsed_s
        self._clock = clock
        self._started = clock()
        self._held_s = 0.0  # real time spent waiting for the operator
        self._held_since: float | None = None
        self._pace_from: tuple[float, float] | None = None  # (real s, plan s) where the pace is measured from
        self._eta = ""
        self._machine = ""

    def advance(self, index: int, answered: bool = True) -> None:
        """Line ``index`` (0-based) is done; ``answered``: by the board (False: it had nothing to send)."""
        self._bar.update(1)
        if self._elapsed_s and answered:
            self._eta = f"ETA {clock_text(self.eta_s(index) or 0.0)}"
            self._show(refresh=False)

    def eta_s(self, index: int) -> float | None:
        """The time left once the board has answered line ``index``: the plan's, at the machine's pace so far.

        None without the plan's times.
        """
        if not self._elapsed_s:
            return None
        real_s, plan_s = self._running_s(), self._elapsed_s[index]
        if self._pace_from is None and real_s >= PACE_FROM_S:
            self._pace_from = (real_s, plan_s)
        plan_left_s = self._elapsed_s[-1] - plan_s
        if self._pace_from is None or real_s - self._pace_from[0] < PACE_OVER_S:
            return plan_left_s
        return machine_eta_s(plan_left_s, real_s - self._pace_from[0], plan_s - self._pace_from[1])

    def machine(self, state: str, position_mm: Sequence[float] | None = None) -> None:
        """What the board reports: its state and, if known, its position."""
        where = f" X{position_mm[0]:.1f} Y{position_mm[1]:.1f}" if position_mm is not None else ""
        self._machine = f"{state}{where}"
        self._show(refresh=True)

    def paused(self) -> None:
        """The board waits at a program pause for the operator: that time is not the machine's pace."""
        if self._held_since is None:
            self._held_since = self._clock()

    def resumed(self) -> None:
        """The operator is done and the board goes on: it runs again."""
        if self._held_since is not None:
            self._held_s += self._clock() - self._held_since
            self._held_since = None
        self.machine("Run")

    def close(self) -> None:
        self._bar.close()

    def _running_s(self) -> float:
        """Real time since the start, less the time spent waiting for the operator."""
        held_s = self._held_s + (self._clock() - self._held_since if self._held_since is not None else 0.0)
        return self._clock() - self._started - held_s

    def _show(self, refresh: bool) -> None:
        parts = [part for part in (self._eta, self._machine) if part]
        self._bar.set_postfix_str(" | ".join(parts), refresh=refresh)
