"""Progress that fits the place: tqdm's bar on a terminal, a plain line every few seconds anywhere else.

A pipe, CI or a log file gets no ``\\r`` redraws and no ANSI codes: :class:`LogLines` writes the bar's text as
a line of its own every ``LOG_INTERVAL_S`` and once at the end. ``robot.host.progress`` has its twin (the robot
layer does not import strokeopt).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

LOG_INTERVAL_S = 5.0  # off a terminal: at most one progress line this often, and one at the end


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
