"""Merge a measured corrections.toml into a machine profile, keeping the user's own text and comments.

Everything goes into ``[calibration]``: the affine map and backlash (composed with the correction the
sheet was drawn with, when corrections.toml records one), the first pen's measured width (its
``[[pens]]`` entry keeps the label's, which the calibration sheet is laid out for) and the tone curve.
The merged text is read back as a profile before anything is written, so a correction that would command
moves outside the work area is refused with the profile left as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import sys
from dataclasses import dataclass
from typing import Any

import tomlkit

from calibration.machine import MachineError, compose
from calibration.profile import Calibration, MachineProfile, Tone
from calibration.profile_file import MACHINE_BOUNDS, PEN_WIDTH_MM, calibration_table, parse_profile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib


class CorrectionsError(ValueError):
    """A corrections.toml that is not what `calibrate measure` writes, or values no machine has."""


@dataclass(frozen=True)
class MeasuredCorrections:
    """What corrections.toml says: the machine (or what a drawn-with correction left), pen width and tone."""

    machine: MachineError
    drawn_with: MachineError | None
    pen_width_mm: float
    tone: Tone


def read_corrections(text: str, source: str = "corrections.toml") -> MeasuredCorrections:
    """The values of a corrections.toml, each checked; a bad one is named by its table and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CorrectionsError(f"{source}: not valid TOML: {exc}") from None

    def number(table: str, key: str, low: float, high: float) -> float:
        value = data.get(table, {}).get(key) if isinstance(data.get(table), dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise CorrectionsError(f"{source}: [{table}] {key} is {value!r}: must be a number between {low:g} and "
                                   f"{high:g} (write the file again with `strokebot calibrate measure`)")
        return float(value)

    def machine(table: str, backlash: tuple[str, str]) -> MachineError:
        affine = {k: number(table, k, MACHINE_BOUNDS[k].low, MACHINE_BOUNDS[k].high)
                  for k in ("scale_x", "scale_y", "skew_deg", "rotation_deg", "offset_x_mm", "offset_y_mm")}
        bx, by = (number(*name.split("."), -5, 5) for name in backlash)
        return MachineError(**affine, backlash_x_mm=bx, backlash_y_mm=by)

    residual = machine("affine", ("backlash.x_mm", "backlash.y_mm"))
    drawn_with = machine("drawn_with", ("drawn_with.backlash_x_mm", "drawn_with.backlash_y_mm")) \
        if "drawn_with" in data else None
    tone = data.get("tone")
    if not isinstance(tone, dict) or not isinstance(tone.get("densities"), list) \
            or not isinstance(tone.get("darkness"), list) or len(tone["densities"]) != len(tone["darkness"]):
        raise CorrectionsError(f"{source}: [tone] must hold lists densities and darkness of one length "
                               "(write the file again with `strokebot calibrate measure`)")
    pen = number("pen", "width_mm", PEN_WIDTH_MM.low, PEN_WIDTH_MM.high)
    return MeasuredCorrections(
        machine=residual, drawn_with=drawn_with, pen_width_mm=pen,
        tone=Tone(tuple(map(float, tone["densities"])), tuple(min(1.0, max(0.0, float(v))) for v in tone["darkness"]),
                  min(1.0, max(0.0, number("tone", "solid_darkness", -1, 2)))),
    )


def merged_calibration(corrections: MeasuredCorrections) -> Calibration:
    """The machine's calibration: the measured one, or composed with the one the sheet was drawn with."""
    machine = corrections.machine
    if corrections.drawn_with is not None:
        machine = compose(machine, corrections.drawn_with)
    else:
        machine = dataclasses.replace(machine, backlash_x_mm=max(0.0, machine.backlash_x_mm),
                                      backlash_y_mm=max(0.0, machine.backlash_y_mm))
    return Calibration(machine=machine, pen_width_mm=round(corrections.pen_width_mm, 3), tone=corrections.tone)


def merge_into_profile(profile_text: str, corrections: MeasuredCorrections, source: str = "profile",
                       corrections_name: str = "corrections.toml") -> tuple[str, MachineProfile]:
    """The profile's text with the corrections merged (its own comments and layout kept), and the profile.

    Raises ProfileError (the profile left as it was) when the merged text is not a valid profile, for
    example when the correction would command moves outside the work area.
    """
    try:
        doc = tomlkit.parse(profile_text)
    except tomlkit.exceptions.ParseError as exc:
        raise CorrectionsError(f"{source}: not valid TOML: {exc}") from None
    parse_profile(profile_text, source)  # the profile as it is must be valid first
    calibration = merged_calibration(corrections)
    table = tomlkit.table()
    table.add(tomlkit.comment(f"what the machine does, from {corrections_name} ({_dt.date.today().isoformat()}), "
                              "by `strokebot calibrate apply`: plan corrects every move for it"))
    values: dict[str, Any] = calibration_table(calibration)
    for key, value in values.items():
        table.add(key, value)
    if "calibration" in doc:
        del doc["calibration"]
    doc.add("calibration", table)
    text = tomlkit.dumps(doc)
    return text, parse_profile(text, source)
