"""GRBL 1.1's answer to ``?``, e.g. ``<Run|MPos:10.000,20.000,0.000|FS:3000,1000|Ov:100,100,100|A:S>``, read
into plain data.

Every field GRBL 1.1h can send is read: the state (``Idle``, ``Run``, ``Hold:0``/``Hold:1``, ``Jog``,
``Home``, ``Alarm``, ``Check``, ``Door:0``-``Door:3``, ``Sleep``), ``MPos`` or ``WPos``, ``Bf`` (planner
blocks and receive-buffer bytes free), ``Ln`` (line number), ``FS`` (feed and spindle speed) or ``F`` (feed
only), ``Pn`` (input pins), ``WCO`` (work coordinate offset), ``Ov`` (feed, rapid and spindle overrides in
percent) and ``A`` (accessories: ``S`` spindle clockwise, ``C`` counter-clockwise, ``F`` flood, ``M`` mist).
A field that is missing, or that does not read as numbers, is None; the whole report is kept in ``report``.
"""

from __future__ import annotations

from dataclasses import dataclass

RUNNING_STATES = ("Run", "Hold", "Jog", "Home")  # a board in these states is busy, not stuck

Coordinates = tuple[float, float, float]


@dataclass(frozen=True)
class MachineStatus:
    """One status report: the state ("Idle", "Hold:0", ...), the position in mm if reported, and the rest.

    ``position_mm`` is what the report gave, machine (MPos) or work (WPos) coordinates as ``work_position``
    says; :attr:`machine_mm` and :attr:`work_mm` convert with a WCO of the same report where needed.
    """

    state: str
    position_mm: Coordinates | None
    report: str
    work_position: bool = False
    wco_mm: Coordinates | None = None
    feed_mm_min: float | None = None
    spindle_rpm: float | None = None
    buffer: tuple[int, int] | None = None  # Bf: planner blocks free, receive-buffer bytes free
    line_number: int | None = None
    pins: str | None = None  # Pn: the letters of the inputs that are active
    overrides: tuple[int, int, int] | None = None  # Ov: feed, rapid, spindle in percent
    accessories: str | None = None  # A: "S", "C", "F", "M" letters

    @property
    def running(self) -> bool:
        """True while the board is working or holding: answers may be late without anything being wrong."""
        return self.state.split(":")[0] in RUNNING_STATES

    @property
    def machine_mm(self) -> Coordinates | None:
        """The machine position: MPos, or WPos + WCO when both came in this report."""
        return self._converted(work=False)

    @property
    def work_mm(self) -> Coordinates | None:
        """The work position: WPos, or MPos - WCO when both came in this report."""
        return self._converted(work=True)

    def _converted(self, work: bool) -> Coordinates | None:
        if self.position_mm is None or work == self.work_position:
            return self.position_mm
        if self.wco_mm is None:
            return None
        sign = -1.0 if work else 1.0
        x, y, z = (p + sign * o for p, o in zip(self.position_mm, self.wco_mm))
        return x, y, z


def parse_status(report: str) -> MachineStatus:
    """Read a status report; unknown fields are kept only in ``report``."""
    fields = report.strip().strip("<>").split("|")
    values = dict(field.partition(":")[::2] for field in fields[1:])
    work = "WPos" in values and "MPos" not in values
    speeds = _numbers(values["FS"], 2) if "FS" in values else _numbers(values.get("F"), 1)
    buffer = _numbers(values.get("Bf"), 2)
    overrides = _numbers(values.get("Ov"), 3)
    line = _numbers(values.get("Ln"), 1)
    return MachineStatus(
        state=fields[0],
        position_mm=_coordinates(values.get("WPos" if work else "MPos")),
        report=report.strip(),
        work_position=work,
        wco_mm=_coordinates(values.get("WCO")),
        feed_mm_min=speeds[0] if speeds else None,
        spindle_rpm=speeds[1] if speeds and len(speeds) > 1 else None,
        buffer=(int(buffer[0]), int(buffer[1])) if buffer else None,
        line_number=int(line[0]) if line else None,
        pins=values.get("Pn"),
        overrides=(int(overrides[0]), int(overrides[1]), int(overrides[2])) if overrides else None,
        accessories=values.get("A"),
    )


def _numbers(text: str | None, count: int) -> tuple[float, ...] | None:
    """The first ``count`` comma-separated numbers of a field's value, or None if they are not there."""
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) < count:
        return None
    try:
        return tuple(float(part) for part in parts[:count])
    except ValueError:
        return None


def _coordinates(text: str | None) -> Coordinates | None:
    numbers = _numbers(text, 3)
    return None if numbers is None else (numbers[0], numbers[1], numbers[2])
