"""What a GRBL board keeps in its EEPROM: the ``$`` settings (with GRBL's defaults and storage types),
the startup lines and the build info; and a setting as ``$$`` prints it."""

from __future__ import annotations

from dataclasses import dataclass, field

from calibration import MachineProfile
from robot.boards.board import SimSettings
from robot.boards.grbl_replies import float32, grbl_number

STARTUP_LINES = 2  # N_STARTUP_LINE

# defaults.h (DEFAULTS_GENERIC): what $RST=$ restores on a stock GRBL, before a profile says otherwise.
GRBL_DEFAULTS: dict[int, float] = {
    0: 10, 1: 25, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 10: 1, 11: 0.010, 12: 0.002, 13: 0,
    20: 0, 21: 0, 22: 0, 23: 0, 24: 25.0, 25: 500.0, 26: 250, 27: 1.0, 30: 1000.0, 31: 0.0, 32: 0,
    100: 250.0, 101: 250.0, 102: 250.0, 110: 500.0, 111: 500.0, 112: 500.0,
    120: 10.0, 121: 10.0, 122: 10.0, 130: 200.0, 131: 200.0, 132: 200.0,
}  # fmt: skip
BYTE_SETTINGS = frozenset({0, 1, 2, 3, 10, 23, 26})  # stored as uint8
FLAG_SETTINGS = frozenset({4, 5, 6, 13, 20, 21, 22, 32})  # stored as a bit: any non-zero value is 1
RPM_SETTINGS = frozenset({30, 31})  # printed without decimals


@dataclass
class GrblEeprom:
    """What a GRBL board keeps across soft resets and power cycles: ``$`` settings, startup lines, build info.

    GRBL keeps G54-G59, G28 and G30 there too; nothing this model reads can change them, so they are zero.
    Empty ``settings`` is a blank chip (:meth:`blank`): GRBL then says ``error:7``, restores its defaults and
    prints them before its banner.
    """

    settings: dict[int, float]
    startup_lines: list[str] = field(default_factory=lambda: [""] * STARTUP_LINES)
    build_info: str = ""

    @classmethod
    def factory(cls, profile: MachineProfile, sim: SimSettings) -> GrblEeprom:
        """A new board's: GRBL's defaults with the profile's travel, acceleration, work area and pen-down S."""
        motion, area = profile.motion, profile.work_area
        ours = {
            20: float(sim.soft_limits), 22: float(sim.homing),
            30: float(profile.pen_lift.down_s or GRBL_DEFAULTS[30]),
            110: motion.travel_feed_mm_min, 111: motion.travel_feed_mm_min,
            120: motion.acceleration_mm_s2, 121: motion.acceleration_mm_s2,
            130: area.width_mm, 131: area.height_mm,
        }  # fmt: skip
        return cls({n: float32(v) for n, v in {**GRBL_DEFAULTS, **ours}.items()})

    @classmethod
    def blank(cls) -> GrblEeprom:
        """A chip GRBL has never written to."""
        return cls({})

    def copy(self) -> GrblEeprom:
        return GrblEeprom(dict(self.settings), list(self.startup_lines), self.build_info)


def setting_text(number: int, value: float) -> str:
    """A setting as ``$$`` prints it: integers as integers, rpm without decimals, the rest with three."""
    if number in BYTE_SETTINGS or number in FLAG_SETTINGS:
        return str(int(value))
    return grbl_number(value, 0 if number in RPM_SETTINGS else 3)
