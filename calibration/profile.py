"""Machine profiles: what a plotter can reach, how fast it moves, how it lifts its pen, which pens it holds.

A profile is frozen dataclasses; ``calibration.profile_file`` reads them from TOML, checking every field and
naming a bad one by its dotted path (``motion.draw_feed_mm_min``), and writes them back. Here too: the
profile as the machine really draws, with its measured pen (``as_calibrated``, ``tone_points``) or the
simulated machine's (``as_simulated``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from calibration.machine import MachineError

DIALECTS = ("grbl-servo", "grbl-z", "marlin-servo", "marlin-z", "custom")


FIRMWARES = ("grbl", "marlin")


# The longest line each firmware reads, in characters without the line's end: GRBL 1.1's LINE_BUFFER_SIZE
# is 80 (error:11 beyond 79), Marlin's MAX_CMD_SIZE is 96 with the terminator (95, line number and
# checksum included). The emitter, the profile reader, the send-time check and the simulators use these.
GRBL_MAX_LINE_CHARS = 79


MARLIN_MAX_LINE_CHARS = 95


FIRMWARE_MAX_LINE_CHARS = {"grbl": GRBL_MAX_LINE_CHARS, "marlin": MARLIN_MAX_LINE_CHARS}


ORIGINS = ("bottom-left", "top-left", "bottom-right", "top-right")


# The [pen_lift] settings each dialect reads; "custom" takes its pen moves from [templates] instead.
PEN_LIFT_FIELDS = {
    "grbl-servo": ("down_s", "dwell_s"),
    "grbl-z": ("up_z_mm", "down_z_mm", "plunge_feed_mm_min", "dwell_s"),
    "marlin-servo": ("servo_index", "up_angle", "down_angle", "dwell_s"),
    "marlin-z": ("up_z_mm", "down_z_mm", "plunge_feed_mm_min", "dwell_s"),
    "custom": ("dwell_s",),
}


TEMPLATE_FIELDS = ("header", "pen_up", "pen_down", "pen_change", "footer")


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
    """How the pen goes down and up; each dialect reads its own fields (PEN_LIFT_FIELDS), the rest stay None.

    grbl-servo: ``M3 S<down_s>`` down, ``M5`` up. marlin-servo: ``M280 P<servo_index> S<angle>``.
    grbl-z / marlin-z: Z to ``down_z_mm`` at ``plunge_feed_mm_min``, rapid Z to ``up_z_mm``.
    Every lift or drop is followed by a dwell of ``dwell_s`` seconds (0 for none).
    """

    dwell_s: float = 0.0
    down_s: int | None = None
    servo_index: int | None = None
    up_angle: float | None = None
    down_angle: float | None = None
    up_z_mm: float | None = None
    down_z_mm: float | None = None
    plunge_feed_mm_min: float | None = None


@dataclass(frozen=True)
class GcodeTemplates:
    """A custom dialect: the G-code lines for each step, for a firmware ("grbl" or "marlin").

    ``pen_change`` may name the pen as ``{pen}``; the lines are written as they are, so they must be
    G-code the firmware understands (moves included: they are checked against the work area too).
    """

    firmware: str
    pen_up: tuple[str, ...]
    pen_down: tuple[str, ...]
    header: tuple[str, ...] = ()
    pen_change: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tone:
    """Measured darkness (0 paper, 1 black) of hatching at each density, and of solid ink."""

    densities: tuple[float, ...]
    darkness: tuple[float, ...]
    solid_darkness: float


@dataclass(frozen=True)
class Calibration:
    """The profile's ``[calibration]``: what the machine does (``calibrate apply`` writes it), corrected at plan.

    The planner commands each move so that this machine draws it where it was meant; the affine map is
    inverted about the machine origin. ``pen_width_mm``: the first pen's line as measured (its
    ``[[pens]]`` entry keeps the label's width, which the calibration sheet is laid out for); the fit
    and the renders use the measured one (``as_calibrated``).
    """

    machine: MachineError
    pen_width_mm: float | None = None
    tone: Tone | None = None


@dataclass(frozen=True)
class SimulatedMachine:
    """The profile's ``[sim]``: the errors the simulated boards play (a miscalibrated machine, for testing).

    ``pen_width_mm``: the first pen's real width (None: as its profile says); ``pen_darkness``: how dark its
    ink really is (1 black); ``pen_down_lag_mm``: how far the pen travels after the down command before it
    touches the paper.
    """

    machine: MachineError = MachineError()
    pen_width_mm: float | None = None
    pen_darkness: float = 1.0
    pen_down_lag_mm: float = 0.0


MACHINE_FIELDS = tuple(f.name for f in dataclasses.fields(MachineError))


TONE_FIELDS = ("tone_densities", "tone_darkness", "solid_darkness")


CALIBRATION_PEN_FIELDS = ("pen_width_mm",)


SIM_PEN_FIELDS = ("pen_width_mm", "pen_darkness", "pen_down_lag_mm")


@dataclass(frozen=True)
class MachineProfile:
    """Everything about one machine that the planner, the emitter, the streamer and the simulator need."""

    name: str
    dialect: str
    work_area: WorkArea
    motion: Motion
    pen_lift: PenLift
    pens: tuple[PenProfile, ...]
    templates: GcodeTemplates | None = None  # only for the "custom" dialect
    calibration: Calibration | None = None  # [calibration]: corrected for when planning
    sim: SimulatedMachine | None = None  # [sim]: what the simulated boards get wrong

    @property
    def firmware(self) -> str:
        """The firmware family the dialect talks to: "grbl" or "marlin"."""
        if self.templates is not None:
            return self.templates.firmware
        return self.dialect.split("-")[0]

    @property
    def max_line_chars(self) -> int:
        """The longest line the profile's firmware reads (FIRMWARE_MAX_LINE_CHARS)."""
        return FIRMWARE_MAX_LINE_CHARS[self.firmware]

    def page_to_machine(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Machine coordinates of a point given on the page (origin top-left, y pointing down).

        Works on numbers and on numpy arrays alike.
        """
        vertical, horizontal = self.work_area.origin.split("-")
        x = self.work_area.width_mm - x_mm if horizontal == "right" else x_mm
        y = self.work_area.height_mm - y_mm if vertical == "bottom" else y_mm
        return x, y

    def machine_to_page(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Page coordinates (origin top-left, y down) of a machine position; the inverse of page_to_machine."""
        return self.page_to_machine(x_mm, y_mm)  # both mappings are involutions


def as_calibrated(profile: MachineProfile) -> MachineProfile:
    """The profile with its first pen as wide as ``[calibration]`` measured it (unchanged without one)."""
    width = profile.calibration.pen_width_mm if profile.calibration is not None else None
    if width is None:
        return profile
    return dataclasses.replace(profile, pens=(dataclasses.replace(profile.pens[0], width_mm=width), *profile.pens[1:]))


def tone_points(profile: MachineProfile) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The measured tone as (coverage, darkness) points from 0 to 1, or None without a measured ``[calibration]`` tone.

    A ladder patch's density is the labelled pen width over its hatch spacing; the ink really covers that
    times the measured width over the labelled one (at most all of it), and solid ink is coverage 1.
    """
    calibration = profile.calibration
    if calibration is None or calibration.tone is None:
        return None
    tone, label_mm = calibration.tone, profile.pens[0].width_mm
    widening = (calibration.pen_width_mm or label_mm) / label_mm
    points = {0.0: 0.0, 1.0: tone.solid_darkness}
    for density, darkness in zip(tone.densities, tone.darkness):
        coverage = density * widening
        if 0.0 < coverage < 1.0:
            points[coverage] = darkness
    coverage = sorted(points)
    darkness, darkest = [], 0.0
    for c in coverage:  # never lighter with more ink: measurement noise flattened out
        darkest = max(darkest, min(1.0, points[c]))
        darkness.append(darkest)
    return tuple(coverage), tuple(darkness)


def as_simulated(profile: MachineProfile) -> MachineProfile:
    """The profile with its pens as the ``[sim]`` machine really draws them (width, ink darkness)."""
    sim = profile.sim
    if sim is None:
        return profile
    pens = []
    for i, pen in enumerate(profile.pens):
        width = sim.pen_width_mm if i == 0 and sim.pen_width_mm is not None else pen.width_mm
        ink = [int(pen.color[k:k + 2], 16) / 255.0 for k in (1, 3, 5)]  # transmittance per channel
        lighter = [1.0 - sim.pen_darkness * (1.0 - t) for t in ink]
        pens.append(dataclasses.replace(pen, width_mm=width, color="#" + "".join(f"{round(t * 255):02x}" for t in lighter)))
    return dataclasses.replace(profile, pens=tuple(pens))
