"""Machine profiles: what a plotter can reach, how fast it moves, how it lifts its pen, which pens it holds.

A profile is read from TOML into frozen dataclasses. Every field is checked on load, and a bad one is
reported by its dotted name (``motion.draw_feed_mm_min``) so the user knows which line to fix.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

DIALECTS = ("grbl-servo",)
ORIGINS = ("bottom-left", "top-left")
DEFAULT_PROFILE_FILE = "a4_grbl_servo.toml"


class ProfileError(ValueError):
    """A machine profile that cannot be read or does not make sense."""


@dataclass(frozen=True)
class PenProfile:
    """One pen in the machine: its name, the width of its line and its ink colour (``#rrggbb``)."""

    name: str
    width_mm: float
    color: str


@dataclass(frozen=True)
class WorkArea:
    """The rectangle the pen can reach, the margin kept free on each side, and where (0, 0) is."""

    width_mm: float
    height_mm: float
    margin_mm: float
    origin: str

    @property
    def drawing_width_mm(self) -> float:
        return self.width_mm - 2 * self.margin_mm

    @property
    def drawing_height_mm(self) -> float:
        return self.height_mm - 2 * self.margin_mm


@dataclass(frozen=True)
class Motion:
    """Feeds for drawing and travel moves and the acceleration used to estimate durations."""

    draw_feed_mm_min: float
    travel_feed_mm_min: float
    acceleration_mm_s2: float


@dataclass(frozen=True)
class PenLift:
    """How the pen goes down and up: the servo value for down (``M3 S<down_s>``) and the dwell after a move."""

    down_s: int
    dwell_s: float


@dataclass(frozen=True)
class MachineProfile:
    """Everything about one machine that the planner, the emitter, the streamer and the simulator need."""

    name: str
    dialect: str
    work_area: WorkArea
    motion: Motion
    pen_lift: PenLift
    pens: tuple[PenProfile, ...]

    def page_to_machine(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Machine coordinates of a point given on the page (origin top-left, y pointing down)."""
        if self.work_area.origin == "bottom-left":
            return x_mm, self.work_area.height_mm - y_mm
        return x_mm, y_mm

    def machine_to_page(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Page coordinates (origin top-left, y down) of a machine position; the inverse of page_to_machine."""
        return self.page_to_machine(x_mm, y_mm)  # both mappings are involutions


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
    """The profile written back as TOML that ``parse_profile`` reads to an equal profile."""
    wa, mo, pl = profile.work_area, profile.motion, profile.pen_lift
    lines = [
        f"name = {_toml_str(profile.name)}",
        f"dialect = {_toml_str(profile.dialect)}",
        "",
        "[work_area]",
        f"width_mm = {wa.width_mm!r}",
        f"height_mm = {wa.height_mm!r}",
        f"margin_mm = {wa.margin_mm!r}",
        f"origin = {_toml_str(wa.origin)}",
        "",
        "[motion]",
        f"draw_feed_mm_min = {mo.draw_feed_mm_min!r}",
        f"travel_feed_mm_min = {mo.travel_feed_mm_min!r}",
        f"acceleration_mm_s2 = {mo.acceleration_mm_s2!r}",
        "",
        "[pen_lift]",
        f"down_s = {pl.down_s}",
        f"dwell_s = {pl.dwell_s!r}",
    ]
    for pen in profile.pens:
        lines += [
            "",
            "[[pens]]",
            f"name = {_toml_str(pen.name)}",
            f"width_mm = {pen.width_mm!r}",
            f"color = {_toml_str(pen.color)}",
        ]
    return "\n".join(lines) + "\n"


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_MAX_SIDE_MM = 10_000.0


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

    def number(self, table: dict[str, Any], key: str, prefix: str, low: float, high: float) -> float:
        field = prefix + key
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(field, f"must be a number, got {value!r}")
        if not math.isfinite(value) or not (low < value <= high):
            raise self.fail(field, f"must be in ({low:g}, {high:g}], got {value!r}")
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
        top_keys = {"name", "dialect", "work_area", "motion", "pen_lift", "pens"}
        unknown = sorted(set(self.data) - top_keys)
        if unknown:
            raise self.fail(unknown[0], "is not a known setting")
        name = self.text(self.data, "name", "")
        dialect = self.text(self.data, "dialect", "", DIALECTS)

        wa = self.table(self.data, "work_area", "", {"width_mm", "height_mm", "margin_mm", "origin"})
        width = self.number(wa, "width_mm", "work_area.", 0.0, _MAX_SIDE_MM)
        height = self.number(wa, "height_mm", "work_area.", 0.0, _MAX_SIDE_MM)
        margin = self.number(wa, "margin_mm", "work_area.", -1e-9, _MAX_SIDE_MM)
        if 2 * margin >= min(width, height):
            raise self.fail("work_area.margin_mm", f"leaves no room to draw in a {width:g} x {height:g} mm area")
        origin = self.text(wa, "origin", "work_area.", ORIGINS)

        mo = self.table(self.data, "motion", "", {"draw_feed_mm_min", "travel_feed_mm_min", "acceleration_mm_s2"})
        motion = Motion(
            draw_feed_mm_min=self.number(mo, "draw_feed_mm_min", "motion.", 0.0, 1e6),
            travel_feed_mm_min=self.number(mo, "travel_feed_mm_min", "motion.", 0.0, 1e6),
            acceleration_mm_s2=self.number(mo, "acceleration_mm_s2", "motion.", 0.0, 1e6),
        )

        pl = self.table(self.data, "pen_lift", "", {"down_s", "dwell_s"})
        down_s = self.number(pl, "down_s", "pen_lift.", 0.0, 1e6)
        if down_s != int(down_s):
            raise self.fail("pen_lift.down_s", f"must be a whole number, got {pl['down_s']!r}")
        pen_lift = PenLift(down_s=int(down_s), dwell_s=self.number(pl, "dwell_s", "pen_lift.", -1e-9, 10.0))

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
                    width_mm=self.number(raw, "width_mm", prefix, 0.0, 20.0),
                    color=color.lower(),
                )
            )
        names = [p.name for p in pens]
        if len(set(names)) != len(names):
            raise self.fail("pens", f"holds two pens with the same name: {names}")

        return MachineProfile(
            name=name,
            dialect=dialect,
            work_area=WorkArea(width_mm=width, height_mm=height, margin_mm=margin, origin=origin),
            motion=motion,
            pen_lift=pen_lift,
            pens=tuple(pens),
        )
