"""Profile files: a MachineProfile read from TOML with every field checked against its range (and the reason
for the range), and written back with tomlkit so that what is written reads back equal.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from calibration.machine import MachineError
from calibration.profile import (
    CALIBRATION_PEN_FIELDS,
    DIALECTS,
    FIRMWARE_MAX_LINE_CHARS,
    FIRMWARES,
    MACHINE_FIELDS,
    ORIGINS,
    PEN_LIFT_FIELDS,
    SIM_PEN_FIELDS,
    TEMPLATE_FIELDS,
    TONE_FIELDS,
    Calibration,
    GcodeTemplates,
    MachineProfile,
    Motion,
    PenLift,
    PenProfile,
    ProfileError,
    SimulatedMachine,
    Tone,
    WorkArea,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

DEFAULT_PROFILE_FILE = "a4_grbl_servo.toml"


def default_profile() -> MachineProfile:
    """The built-in A4 portrait GRBL servo plotter with one 0.5 mm black pen."""
    text = resources.files("calibration.profiles").joinpath(DEFAULT_PROFILE_FILE).read_text("utf-8")
    return parse_profile(text, source="built-in default profile")


def load_profile(path: str | Path | None) -> MachineProfile:
    """Read a profile from a TOML file, or the built-in default when ``path`` is None."""
    if path is None:
        return default_profile()
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_profile(text, source=str(path))


def parse_profile(text: str, source: str = "profile") -> MachineProfile:
    """Build a checked MachineProfile from TOML text; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    return _Reader(data, source).profile()


def profile_to_toml(profile: MachineProfile) -> str:
    """The profile written back as TOML (by tomlkit) that ``parse_profile`` reads to an equal profile."""
    import tomlkit  # 20 ms: loaded only by what writes a profile (`strokebot profile show`)

    data: dict[str, Any] = {
        "name": profile.name,
        "dialect": profile.dialect,
        "work_area": dataclasses.asdict(profile.work_area),
        "motion": dataclasses.asdict(profile.motion),
        "pen_lift": {field: getattr(profile.pen_lift, field) for field in PEN_LIFT_FIELDS[profile.dialect]},
    }
    if profile.templates is not None:
        data["templates"] = {
            "firmware": profile.templates.firmware,
            **{field: list(getattr(profile.templates, field)) for field in TEMPLATE_FIELDS},
        }
    data["pens"] = [dataclasses.asdict(pen) for pen in profile.pens]
    if profile.calibration is not None:
        data["calibration"] = calibration_table(profile.calibration)
    if profile.sim is not None:
        data["sim"] = sim_table(profile.sim)
    return tomlkit.dumps(data)


def sim_table(sim: SimulatedMachine) -> dict[str, float]:
    """The ``[sim]`` table's values."""
    return {**dataclasses.asdict(sim.machine), **{k: getattr(sim, k) for k in SIM_PEN_FIELDS if getattr(sim, k) is not None}}


def with_sim(profile: MachineProfile, values: dict[str, float], source: str = "sim://") -> MachineProfile:
    """The profile with these ``[sim]`` fields set (the others kept), each checked as in a profile file."""
    current = sim_table(profile.sim) if profile.sim is not None else {}
    return dataclasses.replace(profile, sim=_Reader({"sim": {**current, **values}}, source).sim())


def calibration_table(calibration: Calibration) -> dict[str, Any]:
    """The ``[calibration]`` table's values, as ``profile_to_toml`` and ``calibrate apply`` write them."""
    table: dict[str, Any] = dataclasses.asdict(calibration.machine)
    if calibration.pen_width_mm is not None:
        table["pen_width_mm"] = calibration.pen_width_mm
    if calibration.tone is not None:
        table["tone_densities"] = list(calibration.tone.densities)
        table["tone_darkness"] = list(calibration.tone.darkness)
        table["solid_darkness"] = calibration.tone.solid_darkness
    return table


_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Bounds:
    """The values a profile number may take (both ends included), its unit, and why no machine needs others."""

    low: float
    high: float
    unit: str  # written right after the number: " mm", "°", or "" for a plain count
    reason: str

    def refusal(self, value: object, whole: bool = False) -> str:
        """What a refusal of ``value`` says: the range with its unit, and the reason for it."""
        kind = "a whole number" if whole else "a number"
        return (f"is {value!r}: must be {kind} between {self.low:g} and {self.high:g}{self.unit} "
                f"({self.reason})")


SIDE_MM = Bounds(1, 5000, " mm", "a plotter's reach, from a postcard plotter to a wall plotter")


MARGIN_MM = Bounds(0, 2500, " mm", "the border kept free on each side: at most half the largest work area")


FEED_MM_MIN = Bounds(1, 100_000, " mm/min", "no plotter's steppers move faster than 100 m/min")


ACCELERATION_MM_S2 = Bounds(1, 50_000, " mm/s²", "a plotter's steppers cannot do more")


DWELL_S = Bounds(0, 10, " s", "a pen settles in well under a second, and the dwell comes at every lift")


SERVO_S = Bounds(1, 100_000, "", "the S of M3: S0 would leave the pen up, and no servo or $30 setting goes higher")


SERVO_INDEX = Bounds(0, 15, "", "Marlin numbers a board's servos from 0 for M280 P, and no board has more than 16")


SERVO_ANGLE = Bounds(0, 180, "°", "a hobby servo turns through 0 to 180°")


Z_MM = Bounds(-500, 500, " mm", "no plotter's Z axis travels further")


PEN_WIDTH_MM = Bounds(0.05, 20, " mm", "from the finest technical pen to a broad brush")


SCALE = Bounds(0.8, 1.25, "", "an axis more than 20 % off needs its steps/mm ($100, $101) set, not a correction")


ANGLE_DEG = Bounds(-10, 10, "°", "axes more than 10° out of square need the frame trued, not a correction")


OFFSET_MM = Bounds(-100, 100, " mm", "a shift of the whole drawing, far less than any work area")


BACKLASH_MM = Bounds(0, 5, " mm", "more lost motion than that is a loose belt or pulley to tighten")


DARKNESS = Bounds(0, 1, "", "0 is paper, 1 is black")


DENSITY = Bounds(0, 10, "", "pen width / hatch spacing: 1 covers the paper")


LAG_MM = Bounds(0, 50, " mm", "a pen that needs longer to touch down needs a longer pen_lift.dwell_s")


MACHINE_BOUNDS = {"scale_x": SCALE, "scale_y": SCALE, "skew_deg": ANGLE_DEG, "rotation_deg": ANGLE_DEG,
                  "offset_x_mm": OFFSET_MM, "offset_y_mm": OFFSET_MM, "backlash_x_mm": BACKLASH_MM,
                  "backlash_y_mm": BACKLASH_MM}


class _Reader:
    """Walks the parsed TOML table, checking each field and naming it on failure."""

    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.data = data
        self.source = source

    def fail(self, field: str, why: str) -> ProfileError:
        return ProfileError(f"{self.source}: field '{field}' {why}")

    def table(self, parent: dict[str, Any], key: str, prefix: str, allowed: set[str]) -> dict[str, Any]:
        value = parent.get(key)
        field = prefix + key
        if not isinstance(value, dict):
            raise self.fail(field, "is missing or is not a table")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(f"{field}.{unknown[0]}", "is not a known setting")
        return value

    def number(self, table: dict[str, Any], key: str, prefix: str, bounds: Bounds) -> float:
        """The number at ``table[key]``, refused (named ``prefix + key``) outside ``bounds`` or not finite."""
        field = prefix + key
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(field, f"must be a number, got {value!r}")
        if not (math.isfinite(value) and bounds.low <= value <= bounds.high):
            raise self.fail(field, bounds.refusal(value))
        return float(value)

    def text(self, table: dict[str, Any], key: str, prefix: str, choices: tuple[str, ...] = ()) -> str:
        field = prefix + key
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, f"must be a non-empty string, got {value!r}")
        if choices and value not in choices:
            raise self.fail(field, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def profile(self) -> MachineProfile:
        top_keys = {"name", "dialect", "work_area", "motion", "pen_lift", "templates", "pens", "calibration", "sim"}
        unknown = sorted(set(self.data) - top_keys)
        if unknown:
            raise self.fail(unknown[0], "is not a known setting")
        name = self.text(self.data, "name", "")
        dialect = self.text(self.data, "dialect", "", DIALECTS)

        wa = self.table(self.data, "work_area", "", {"width_mm", "height_mm", "margin_mm", "origin"})
        width = self.number(wa, "width_mm", "work_area.", SIDE_MM)
        height = self.number(wa, "height_mm", "work_area.", SIDE_MM)
        margin = self.number(wa, "margin_mm", "work_area.", MARGIN_MM)
        if 2 * margin >= min(width, height):
            raise self.fail("work_area.margin_mm", f"leaves no room to draw in a {width:g} x {height:g} mm area")
        origin = self.text(wa, "origin", "work_area.", ORIGINS)

        mo = self.table(self.data, "motion", "", {"draw_feed_mm_min", "travel_feed_mm_min", "acceleration_mm_s2"})
        motion = Motion(
            draw_feed_mm_min=self.number(mo, "draw_feed_mm_min", "motion.", FEED_MM_MIN),
            travel_feed_mm_min=self.number(mo, "travel_feed_mm_min", "motion.", FEED_MM_MIN),
            acceleration_mm_s2=self.number(mo, "acceleration_mm_s2", "motion.", ACCELERATION_MM_S2),
        )

        pen_lift = self.pen_lift(dialect)
        templates = self.templates() if dialect == "custom" else None
        if dialect != "custom" and "templates" in self.data:
            raise self.fail("templates", f"is only read by the custom dialect, not {dialect}")

        raw_pens = self.data.get("pens")
        if not isinstance(raw_pens, list) or not raw_pens:
            raise self.fail("pens", "must list at least one [[pens]] entry")
        pens = []
        for i, raw in enumerate(raw_pens):
            prefix = f"pens[{i}]."
            if not isinstance(raw, dict):
                raise self.fail(f"pens[{i}]", "must be a table")
            unknown = sorted(set(raw) - {"name", "width_mm", "color"})
            if unknown:
                raise self.fail(prefix + unknown[0], "is not a known setting")
            color = self.text(raw, "color", prefix)
            if not _COLOR.match(color):
                raise self.fail(prefix + "color", f"must look like #rrggbb, got {color!r}")
            pens.append(
                PenProfile(
                    name=self.text(raw, "name", prefix),
                    width_mm=self.number(raw, "width_mm", prefix, PEN_WIDTH_MM),
                    color=color.lower(),
                )
            )
        names = [p.name for p in pens]
        if len(set(names)) != len(names):
            raise self.fail("pens", f"holds two pens with the same name: {names}")

        profile = MachineProfile(
            name=name,
            dialect=dialect,
            work_area=WorkArea(width_mm=width, height_mm=height, margin_mm=margin, origin=origin),
            motion=motion,
            pen_lift=pen_lift,
            pens=tuple(pens),
            templates=templates,
            calibration=self.calibration() if "calibration" in self.data else None,
            sim=self.sim() if "sim" in self.data else None,
        )
        if profile.calibration is not None:
            self.check_reach(profile)
        return profile

    def machine_error(self, table: dict[str, Any], prefix: str) -> MachineError:
        """The affine and backlash fields of [calibration] or [sim]; those left out are exact."""
        return MachineError(**{k: self.number(table, k, prefix, b) for k, b in MACHINE_BOUNDS.items() if k in table})

    def calibration(self) -> Calibration:
        """[calibration]: what the machine does, as ``calibrate apply`` wrote it."""
        raw = self.table(self.data, "calibration", "", {*MACHINE_FIELDS, *TONE_FIELDS, *CALIBRATION_PEN_FIELDS})
        tone = None
        if any(k in raw for k in TONE_FIELDS):
            series = {}
            for key in ("tone_densities", "tone_darkness"):
                values = raw.get(key)
                if not isinstance(values, list) or not values:
                    raise self.fail(f"calibration.{key}", f"must be a list of numbers, got {values!r}")
                bounds = DENSITY if key == "tone_densities" else DARKNESS
                series[key] = tuple(self.number({key: v}, key, "calibration.", bounds) for v in values)
            if len(series["tone_densities"]) != len(series["tone_darkness"]):
                raise self.fail("calibration.tone_darkness", "must have one value per tone_densities value")
            tone = Tone(series["tone_densities"], series["tone_darkness"],
                        self.number(raw, "solid_darkness", "calibration.", DARKNESS))
        width = self.number(raw, "pen_width_mm", "calibration.", PEN_WIDTH_MM) if "pen_width_mm" in raw else None
        return Calibration(machine=self.machine_error(raw, "calibration."), pen_width_mm=width, tone=tone)

    def sim(self) -> SimulatedMachine:
        """[sim]: the errors a simulated board of this profile plays."""
        raw = self.table(self.data, "sim", "", {*MACHINE_FIELDS, *SIM_PEN_FIELDS})
        return SimulatedMachine(
            machine=self.machine_error(raw, "sim."),
            pen_width_mm=self.number(raw, "pen_width_mm", "sim.", PEN_WIDTH_MM) if "pen_width_mm" in raw else None,
            pen_darkness=self.number(raw, "pen_darkness", "sim.", DARKNESS) if "pen_darkness" in raw else 1.0,
            pen_down_lag_mm=self.number(raw, "pen_down_lag_mm", "sim.", LAG_MM) if "pen_down_lag_mm" in raw else 0.0,
        )

    def check_reach(self, profile: MachineProfile) -> None:
        """Refuse a correction that would command moves outside the work area for a drawing inside the margin."""
        from calibration.machine import corrected_reach_mm

        wa = profile.work_area
        m = wa.margin_mm
        x0, y0, x1, y1 = corrected_reach_mm(profile.calibration.machine, (m, m, wa.width_mm - m, wa.height_mm - m))
        over = max(-x0, -y0, x1 - wa.width_mm, y1 - wa.height_mm)
        if over > 0:
            raise self.fail("calibration", f"would command moves up to {over:.2f} mm outside the "
                            f"{wa.width_mm:g} x {wa.height_mm:g} mm work area for a drawing inside the margin: "
                            f"set work_area.margin_mm to at least {m + math.ceil(over * 10) / 10:g}, or measure "
                            "the sheet again if these values look wrong")

    def pen_lift(self, dialect: str) -> PenLift:
        """The [pen_lift] fields that ``dialect`` uses, each checked; fields of other dialects are refused."""
        fields = PEN_LIFT_FIELDS[dialect]
        if dialect == "custom" and "pen_lift" not in self.data:
            return PenLift()
        pl = self.table(self.data, "pen_lift", "", set().union(*PEN_LIFT_FIELDS.values()))
        stray = sorted(set(pl) - set(fields))
        if stray:
            raise self.fail(f"pen_lift.{stray[0]}", f"is not a setting of the {dialect} dialect (it uses {', '.join(fields)})")
        values: dict[str, Any] = {"dwell_s": self.number(pl, "dwell_s", "pen_lift.", DWELL_S)}
        if "down_s" in fields:
            values["down_s"] = self.whole(pl, "down_s", SERVO_S)
        if "servo_index" in fields:
            values["servo_index"] = self.whole(pl, "servo_index", SERVO_INDEX)
            values["up_angle"] = self.number(pl, "up_angle", "pen_lift.", SERVO_ANGLE)
            values["down_angle"] = self.number(pl, "down_angle", "pen_lift.", SERVO_ANGLE)
            if values["up_angle"] == values["down_angle"]:
                raise self.fail("pen_lift.down_angle", "must differ from up_angle")
        if "up_z_mm" in fields:
            values["up_z_mm"] = self.number(pl, "up_z_mm", "pen_lift.", Z_MM)
            values["down_z_mm"] = self.number(pl, "down_z_mm", "pen_lift.", Z_MM)
            if values["down_z_mm"] >= values["up_z_mm"]:
                raise self.fail("pen_lift.down_z_mm", f"must be below up_z_mm ({values['up_z_mm']:g})")
            values["plunge_feed_mm_min"] = self.number(pl, "plunge_feed_mm_min", "pen_lift.", FEED_MM_MIN)
        return PenLift(**values)

    def whole(self, table: dict[str, Any], key: str, bounds: Bounds) -> int:
        """A whole number within ``bounds`` under [pen_lift]."""
        value = self.number(table, key, "pen_lift.", bounds)
        if value != int(value):
            raise self.fail(f"pen_lift.{key}", bounds.refusal(table[key], whole=True))
        return int(value)

    def templates(self) -> GcodeTemplates:
        """The custom dialect's [templates]: a firmware and lists of G-code lines, each checked."""
        raw = self.table(self.data, "templates", "", {"firmware", *TEMPLATE_FIELDS})
        firmware = self.text(raw, "firmware", "templates.", FIRMWARES)
        lines: dict[str, tuple[str, ...]] = {}
        for field in TEMPLATE_FIELDS:
            value = raw.get(field, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.fail(f"templates.{field}", f"must be a list of strings, got {value!r}")
            for line in value:
                if not line.strip() or not line.isascii() or not line.isprintable():
                    raise self.fail(f"templates.{field}", f"holds {line!r}: each line must be printable ASCII, not empty")
                limit = FIRMWARE_MAX_LINE_CHARS[firmware]
                if len(line) > limit:
                    raise self.fail(
                        f"templates.{field}",
                        f"holds a line of {len(line)} characters ({line[:20]!r}...): {firmware.upper()} reads at most "
                        f"{limit} characters a line (shorten it, or split it into several lines)",
                    )
                rest = line.replace("{pen}", "") if field == "pen_change" else line
                if "{" in rest or "}" in rest:
                    raise self.fail(f"templates.{field}", f"holds {line!r}: only pen_change may use {{pen}}, nothing else")
            lines[field] = tuple(value)
        for field in ("pen_up", "pen_down"):
            if not lines[field]:
                raise self.fail(f"templates.{field}", "must hold at least one line")
        if not set(lines["pen_down"]) - set(lines["pen_up"]) or not set(lines["pen_up"]) - set(lines["pen_down"]):
            raise self.fail("templates.pen_down", "must hold a line that pen_up does not, and pen_up one that it does not")
        return GcodeTemplates(firmware=firmware, **lines)
