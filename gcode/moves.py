"""A program as the emitter builds it, and what a program makes the machine do, both as plain typed data.

A :class:`Program` is its lines in order: the moves the emitter composes as :class:`Motion` values (numbers,
not text) and every other line (the header, the dialect's pen lines, comments) as text. Its G-code text is
written last, from those values. A :class:`Timeline` is what a program does, as arrays: its straight moves
(arcs as the reader's chords) and the stops between them (pen changes, dwells, pauses, the end). The bounds
check and the statistics work on a timeline, which comes either from a program's values
(``gcode.check.check_moves``) or from G-code text read by ``gcode.reader`` (:func:`timeline_of_events`), so a
planned program and a file from elsewhere are measured by the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gcode.dialects import format_number
from gcode.reader import Dwell, Event, Move, Pause, PenChange, ProgramEnd

# Timeline event kinds
MOVE, DWELL, PEN_DOWN, PEN_UP, PAUSE, END = range(6)


@dataclass(frozen=True, slots=True)
class Motion:
    """A move the emitter writes: G0 (travel), G1, or an arc (G2 clockwise, G3) around start + (i, j).

    Coordinates are in machine mm as written (three decimals, see ``gcode.dialects.format_number``); the
    feed is written only where it has to be stated (it is modal), else None.
    """

    code: str  # "G0" | "G1" | "G2" | "G3"
    x_mm: float
    y_mm: float
    i_mm: float = 0.0
    j_mm: float = 0.0
    feed_mm_min: float | None = None

    def text(self) -> str:
        """The G-code line, e.g. ``G1 X10.000 Y20.500 F3000.000``."""
        line = f"{self.code} X{format_number(self.x_mm)} Y{format_number(self.y_mm)}"
        if self.code in ("G2", "G3"):
            line += f" I{format_number(self.i_mm)} J{format_number(self.j_mm)}"
        return line if self.feed_mm_min is None else f"{line} F{format_number(self.feed_mm_min)}"


@dataclass(frozen=True)
class Program:
    """A G-code program's lines in order: the emitter's moves as values, every other line as its text."""

    rows: tuple[Motion | str, ...]

    def lines(self) -> list[str]:
        """The program as G-code lines, without line ends."""
        return [row if isinstance(row, str) else row.text() for row in self.rows]

    def line_count(self) -> int:
        """Lines with something on them (what ``PlanStats.lines`` counts)."""
        return sum(1 for row in self.rows if not isinstance(row, str) or row.strip())


@dataclass(frozen=True)
class Timeline:
    """What a program makes the machine do, in order, as arrays.

    ``kinds`` and ``line_no`` have one entry per event (MOVE, DWELL, PEN_DOWN, PEN_UP, PAUSE or END, and
    the 1-based line that caused it); the move arrays one per MOVE event, ``dwell_s`` one per DWELL event.
    ``feed_mm_min`` is NaN for rapid moves, which run at the machine's travel feed.
    """

    kinds: np.ndarray
    line_no: np.ndarray
    start_mm: np.ndarray  # (moves, 2)
    end_mm: np.ndarray  # (moves, 2)
    dz_mm: np.ndarray
    pen_down: np.ndarray
    rapid: np.ndarray
    feed_mm_min: np.ndarray
    dwell_s: np.ndarray


class TimelineBuilder:
    """Collects a timeline's events one at a time, then makes its arrays once."""

    def __init__(self) -> None:
        self.kinds: list[int] = []
        self.line_no: list[int] = []
        self.moves: list[tuple[float, float, float, float, float, bool, bool, float]] = []
        self.dwells: list[float] = []

    def move(self, line_no: int, start: tuple[float, float], end: tuple[float, float], dz_mm: float,
             pen_down: bool, rapid: bool, feed_mm_min: float | None) -> None:
        self.kinds.append(MOVE)
        self.line_no.append(line_no)
        feed = np.nan if feed_mm_min is None else feed_mm_min
        self.moves.append((start[0], start[1], end[0], end[1], dz_mm, pen_down, rapid, feed))

    def event(self, line_no: int, kind: int, seconds: float = 0.0) -> None:
        """A non-move event; ``seconds`` for a DWELL."""
        self.kinds.append(kind)
        self.line_no.append(line_no)
        if kind == DWELL:
            self.dwells.append(seconds)

    def build(self) -> Timeline:
        table = np.array(self.moves, dtype=float).reshape(-1, 8)
        return Timeline(
            kinds=np.array(self.kinds, dtype=np.int8),
            line_no=np.array(self.line_no, dtype=np.int64),
            start_mm=table[:, 0:2].copy(),
            end_mm=table[:, 2:4].copy(),
            dz_mm=table[:, 4].copy(),
            pen_down=table[:, 5] != 0,
            rapid=table[:, 6] != 0,
            feed_mm_min=table[:, 7].copy(),
            dwell_s=np.array(self.dwells, dtype=float),
        )


def timeline_of_events(events: Sequence[Event]) -> Timeline:
    """The timeline of events read from G-code text by ``gcode.reader``."""
    builder = TimelineBuilder()
    for event in events:
        if isinstance(event, Move):
            builder.move(event.line_no, event.start, event.end, event.dz_mm, event.pen_down, event.rapid,
                         event.feed_mm_min)
        elif isinstance(event, Dwell):
            builder.event(event.line_no, DWELL, event.seconds)
        elif isinstance(event, PenChange):
            builder.event(event.line_no, PEN_DOWN if event.down else PEN_UP)
        elif isinstance(event, Pause):
            builder.event(event.line_no, PAUSE)
        elif isinstance(event, ProgramEnd):
            builder.event(event.line_no, END)
    return builder.build()
