"""GRBL 1.1h's answer to ``?`` as the simulated board writes it: state, position in whole motor steps, feed
and spindle, and WCO and Ov on report.c's refresh schedule."""

from __future__ import annotations

import math

from robot.boards.grbl_replies import grbl_number

MM_PER_INCH = 25.4
BUSY_STATES = frozenset({"Run", "Hold", "Jog", "Home"})  # report.c refreshes WCO and Ov less often in these


class GrblStatusReport:
    """The ``?`` answer of :class:`~robot.boards.grbl_board.GrblSimulator`, mixed into it: it reads the board."""

    def status_report(self) -> bytes:
        """GRBL 1.1h's answer to ``?``: state, position, feed and spindle, and WCO and Ov when they are due."""
        mask, state = int(self._setting(10)), self.state
        machine = self._machine_position()
        wco = self._interpreter.state.offset_mm
        fields = ["Hold:0" if state == "Hold" else state]
        if mask & 1:
            fields.append("MPos:" + self._coords(machine))
        else:
            fields.append("WPos:" + self._coords(tuple(m - w for m, w in zip(machine, wco))))
        if mask & 2:
            blocks = self.settings.planner_blocks - len(self._planner)
            fields.append(f"Bf:{blocks},{self.settings.rx_buffer_bytes + 1 - len(self._rx)}")
        fields.append(f"FS:{self._rate(self._feed_mm_min(state))},{grbl_number(self._spindle_rpm, 0)}")
        fields += self._refreshed_fields(state, wco)
        return ("<" + "|".join(fields) + ">\r\n").encode("ascii")

    def _refreshed_fields(self, state: str, wco: tuple[float, float, float]) -> list[str]:
        """WCO and Ov (with A) on report.c's counters: one report in 10 when idle, 30 / 20 when busy."""
        busy, fields = state in BUSY_STATES, []
        if self._wco_counter > 0:
            self._wco_counter -= 1
        else:
            self._wco_counter = (30 if busy else 10) - 1
            self._ovr_counter = max(self._ovr_counter, 1)  # the overrides follow in the next report
            fields.append("WCO:" + self._coords(wco))
        if self._ovr_counter > 0:
            self._ovr_counter -= 1
        else:
            self._ovr_counter = (20 if busy else 10) - 1
            fields.append("Ov:100,100,100")
            if self._spindle_letter:
                fields.append("A:" + self._spindle_letter)
        return fields

    def _feed_mm_min(self, state: str) -> float:
        return self._planner.speed_mm_s * 60.0 if state in ("Run", "Jog", "Home") else 0.0

    def _machine_position(self) -> tuple[float, float, float]:
        """Where the machine is, in whole motor steps ($100-$102) as GRBL counts it."""
        x, y, z = (whole_steps(v, self._setting(100 + axis)) for axis, v in enumerate(self.position))
        return x, y, z

    def _coords(self, values: tuple[float, ...]) -> str:
        """Coordinates as printFloat_CoordValue writes them: mm with 3 decimals, inches ($13) with 4."""
        if self._setting(13):
            return ",".join(grbl_number(v / MM_PER_INCH, 4) for v in values)
        return ",".join(grbl_number(v, 3) for v in values)

    def _rate(self, mm_min: float) -> str:
        """A feed as printFloat_RateValue writes it: mm/min without decimals, in/min ($13) with one."""
        return grbl_number(mm_min / MM_PER_INCH, 1) if self._setting(13) else grbl_number(mm_min, 0)


def whole_steps(mm: float, steps_per_mm: float) -> float:
    """``mm`` rounded to whole motor steps (lround) and back, as GRBL's step counts report it."""
    if steps_per_mm <= 0:
        return mm
    steps = math.floor(abs(mm) * steps_per_mm + 0.5)
    return math.copysign(steps, mm) / steps_per_mm if steps else 0.0
