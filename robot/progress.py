"""The live progress bar of a stream: lines done, lines per second, the plan's ETA, the machine's state."""

from __future__ import annotations

from collections.abc import Sequence

from tqdm import tqdm

BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} lines [{elapsed}, {rate_fmt}{postfix}]"


def clock_text(seconds: float) -> str:
    """Seconds as a clock reads them: "4:05", "1:02:03"."""
    minutes, secs = divmod(round(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StreamProgress:
    """A tqdm bar over a program's lines; the ETA is the plan's estimate of the time left after each line.

    ``elapsed_s`` is the plan's estimated time at the end of each line (``gcode.stats.elapsed_seconds``);
    without it the bar shows no ETA. :meth:`machine` adds what the board last said about itself.
    """

    def __init__(self, total: int, elapsed_s: Sequence[float] | None = None, enabled: bool = True) -> None:
        self._bar = tqdm(
            total=total, disable=not enabled, unit=" lines", desc="streaming", leave=False, bar_format=BAR_FORMAT
        )
        self._elapsed_s = elapsed_s
        self._eta = ""
        self._machine = ""

    def advance(self, index: int) -> None:
        """Line ``index`` (0-based) is done."""
        self._bar.update(1)
        if self._elapsed_s:
            self._eta = f"ETA {clock_text(self._elapsed_s[-1] - self._elapsed_s[index])}"
            self._show(refresh=False)

    def machine(self, state: str, position_mm: Sequence[float] | None = None) -> None:
        """What the board reports: its state and, if known, its position."""
        where = f" X{position_mm[0]:.1f} Y{position_mm[1]:.1f}" if position_mm is not None else ""
        self._machine = f"{state}{where}"
        self._show(refresh=True)

    def close(self) -> None:
        self._bar.close()

    def _show(self, refresh: bool) -> None:
        parts = [part for part in (self._eta, self._machine) if part]
        self._bar.set_postfix_str(" | ".join(parts), refresh=refresh)
