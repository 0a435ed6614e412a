"""GRBL 1.1's answer to ``?``, e.g. ``<Run|MPos:10.000,20.000,0.000|FS:3000,1000>``, read into plain data."""

from __future__ import annotations

from dataclasses import dataclass

RUNNING_STATES = ("Run", "Hold", "Jog", "Home")  # a board in these states is busy, not stuck


@dataclass(frozen=True)
class MachineStatus:
    """The state ("Idle", "Run", "Hold:0", ...), the machine position in mm if reported, and the raw report."""

    state: str
    position_mm: tuple[float, float, float] | None
    report: str

    @property
    def running(self) -> bool:
        """True while the board is working or holding: answers may be late without anything being wrong."""
        return self.state.split(":")[0] in RUNNING_STATES


def parse_status(report: str) -> MachineStatus:
    """Read a status report; fields other than the state and MPos (or WPos) are kept only in ``report``."""
    fields = report.strip().strip("<>").split("|")
    position = None
    for field in fields[1:]:
        name, _, value = field.partition(":")
        if name in ("MPos", "WPos"):
            try:
                x, y, z = (float(v) for v in value.split(",")[:3])
            except ValueError:
                continue
            position = (x, y, z)
    return MachineStatus(fields[0], position, report.strip())
