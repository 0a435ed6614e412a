"""The words each machine dialect uses for the steps of a plot, and how a reader recognises them.

A :class:`Dialect` is plain text templates: lines for the program's start and end, for lifting and
lowering the pen, and for a pen change. The emitter fills them in; :func:`flavour_for` gives the reader
the matching rules, so statistics and the simulator read a program the way its machine would.
"""

from __future__ import annotations

from dataclasses import dataclass

from calibration import MachineProfile
from gcode.reader import Flavour, strip_comment

PEN_CHANGE_MESSAGE = "change to pen {pen}"


@dataclass(frozen=True)
class Dialect:
    """G-code lines for each step of a plot; ``{pen}`` in ``pen_change`` is the next pen's name.

    ``comment`` is the firmware's comment form (``(text)`` on GRBL, ``; text`` on Marlin, which does not
    read parentheses as comments). ``pen_down_sets_feed``: lowering the pen changes the modal feed rate
    (a Z plunge), so the next drawing move must state its feed again.
    """

    firmware: str
    header: tuple[str, ...]
    pen_up: tuple[str, ...]
    pen_down: tuple[str, ...]
    pen_change: tuple[str, ...]
    footer: tuple[str, ...]
    pen_down_sets_feed: bool = False

    def comment(self, text: str) -> str:
        """A whole-line comment holding ``text`` (which must already be sanitised)."""
        return f"; {text}" if self.firmware == "marlin" else f"({text})"


def dialect_for(profile: MachineProfile) -> Dialect:
    """The built-in dialect named by the profile, or its custom templates."""
    lift = profile.pen_lift
    if profile.dialect == "custom":
        t = profile.templates
        assert t is not None  # the profile reader guarantees templates for the custom dialect
        return Dialect(t.firmware, t.header, t.pen_up, t.pen_down, t.pen_change, t.footer, pen_down_sets_feed=True)
    marlin = profile.firmware == "marlin"
    if lift.dwell_s <= 0:
        dwell: tuple[str, ...] = ()
    elif marlin:
        dwell = (f"G4 P{round(lift.dwell_s * 1000)}",)  # Marlin's G4 P counts milliseconds
    else:
        dwell = (f"G4 P{_number(lift.dwell_s)}",)
    if profile.dialect == "grbl-servo":
        up, down, z_feed = ("M5",), (f"M3 S{lift.down_s}",), False
    elif profile.dialect == "marlin-servo":
        up = (f"M280 P{lift.servo_index} S{_number(lift.up_angle)}",)
        down = (f"M280 P{lift.servo_index} S{_number(lift.down_angle)}",)
        z_feed = False
    else:  # grbl-z, marlin-z
        up = (f"G0 Z{_number(lift.up_z_mm)}",)
        down = (f"G1 Z{_number(lift.down_z_mm)} F{_number(lift.plunge_feed_mm_min)}",)
        z_feed = True
    if marlin:
        pen_change = (f"M0 {PEN_CHANGE_MESSAGE}",)  # Marlin shows M0's text on its display
        footer: tuple[str, ...] = ("M400",)  # wait for the last move; Marlin has no M2
    else:
        pen_change = (f"M0 ({PEN_CHANGE_MESSAGE})",)
        footer = ("M2",)
    return Dialect(
        firmware=profile.firmware,
        header=(),
        pen_up=up + dwell,
        pen_down=down + dwell,
        pen_change=pen_change,
        footer=footer,
        pen_down_sets_feed=z_feed,
    )


def flavour_for(profile: MachineProfile) -> Flavour:
    """How a reader tells the pen's state in programs written for this profile."""
    lift = profile.pen_lift
    if profile.dialect in ("grbl-z", "marlin-z"):
        assert lift.up_z_mm is not None and lift.down_z_mm is not None
        middle = (lift.up_z_mm + lift.down_z_mm) / 2
        return Flavour(profile.firmware, "z", z_down_below_mm=middle)
    if profile.dialect == "marlin-servo":
        assert lift.servo_index is not None and lift.up_angle is not None and lift.down_angle is not None
        return Flavour(
            "marlin", "servo", servo_index=lift.servo_index, servo_up_angle=lift.up_angle,
            servo_down_angle=lift.down_angle,
        )
    if profile.dialect == "custom":
        dialect = dialect_for(profile)
        down = {strip_comment(line)[0] for line in dialect.pen_down}
        up = {strip_comment(line)[0] for line in dialect.pen_up}
        return Flavour(dialect.firmware, "lines", down_codes=frozenset(down - up), up_codes=frozenset(up - down))
    return Flavour("grbl", "spindle")


def _number(value: float | None) -> str:
    """A setting as G-code writes numbers: three decimals."""
    assert value is not None
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text
