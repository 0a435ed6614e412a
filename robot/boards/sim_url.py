"""``sim://`` URLs: the simulated plotter opened with ``serial.serial_for_url``, like any pyserial port.

    sim://?time_scale=0.01&error_on_line=7&drop_offsets=3,40&name=bench
    sim://?firmware=marlin&profile=examples/profiles/a4_marlin_servo.toml&corrupt_offsets=30
    sim://?scale_x=1.01&scale_y=0.995&skew_deg=0.5&backlash_x_mm=0.3&pen_width_mm=0.7

Every query parameter is a field of :class:`~robot.boards.board.SimSettings` or :class:`~robot.boards.faults.Faults`
under its own name (numbers as Python writes them, offsets comma-separated, booleans 0/1/true/false), or
a field of the profile's ``[sim]`` table (a miscalibrated machine: ``scale_x``, ``scale_y``, ``skew_deg``,
``rotation_deg``, ``offset_x_mm``, ``offset_y_mm``, ``backlash_x_mm``, ``backlash_y_mm``, ``pen_width_mm``,
``pen_darkness``, ``pen_down_lag_mm``; they replace the profile's own), or
``profile`` (a machine profile TOML file; the built-in default without it), or ``firmware`` (``grbl`` or
``marlin``: which board answers; the profile's firmware without it), or ``name``: the simulator of the port
opened last with that name is kept in :data:`NAMED_SIMULATORS`, so a test can look at the board after handing
the URL to a streamer. The rate of the line is the baud rate the port is opened with. Every opening powers
up a fresh board, as an Arduino resets when its port is opened.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from calibration import default_profile, load_profile
from calibration.profile import MACHINE_FIELDS, SIM_PEN_FIELDS
from calibration.profile_file import with_sim
from robot.boards.board import BoardSimulator, SimSettings
from robot.boards.faults import Faults
from robot.boards.simulators import simulator_for

SCHEME = "sim"
HANDLER_PACKAGE = "robot.urlhandler"  # holds protocol_sim, the module pyserial looks up for sim://
NAMED_SIMULATORS: dict[str, BoardSimulator] = {}


def register() -> None:
    """Let ``serial.serial_for_url`` open ``sim://`` URLs; done once on ``import robot``."""
    if HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(HANDLER_PACKAGE)


@dataclass(frozen=True)
class SimUrl:
    """What a ``sim://`` URL asks for."""

    settings: SimSettings = SimSettings()
    faults: Faults = Faults()
    profile_path: str | None = None
    name: str | None = None
    firmware: str | None = None
    sim: tuple[tuple[str, float], ...] = ()  # [sim] fields: the machine's errors

    def simulator(self) -> BoardSimulator:
        """A freshly powered-up board as the URL describes it, kept in NAMED_SIMULATORS under its name."""
        profile = load_profile(self.profile_path)
        if self.sim:
            profile = with_sim(profile, dict(self.sim))
        simulator = simulator_for(profile, self.settings, self.faults, firmware=self.firmware)
        if self.name is not None:
            NAMED_SIMULATORS[self.name] = simulator
        return simulator


def parse_sim_url(url: str) -> SimUrl:
    """Read a ``sim://`` URL; a ValueError names unknown, repeated or unreadable parameters."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != SCHEME:
        raise ValueError(f"not a {SCHEME}:// URL: {url!r}")
    if parts.netloc or parts.path:
        raise ValueError(f"{SCHEME}:// takes only query parameters (sim://?name=value&...), not {url!r}")
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    settings_fields = {f.name: f.type for f in dataclasses.fields(SimSettings)}
    faults_fields = {f.name: f.type for f in dataclasses.fields(Faults)}
    sim_fields = dict.fromkeys((*MACHINE_FIELDS, *SIM_PEN_FIELDS), "float")
    known = {**settings_fields, **faults_fields, **sim_fields, "profile": "str", "name": "str", "firmware": "str"}
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    repeated = sorted(key for key, values in query.items() if len(values) > 1)
    if repeated:
        raise ValueError(f"parameter(s) given more than once: {', '.join(repeated)}")
    values = {key: _convert(key, known[key], texts[0]) for key, texts in query.items()}
    sim = tuple((k, v) for k, v in values.items() if k in sim_fields)
    with_sim(default_profile(), dict(sim))  # each value checked now, as a profile's [sim] would be
    return SimUrl(
        settings=SimSettings(**{k: v for k, v in values.items() if k in settings_fields}),
        faults=Faults(**{k: v for k, v in values.items() if k in faults_fields}),
        profile_path=values.get("profile"),
        name=values.get("name"),
        firmware=values.get("firmware"),
        sim=sim,
    )


def _flag(text: str) -> bool:
    words = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    if text.lower() not in words:
        raise ValueError("expected 0 or 1")
    return words[text.lower()]


def _offsets(text: str) -> frozenset[int]:
    return frozenset(int(part) for part in text.split(",") if part.strip())


_PARSERS: dict[str, Callable[[str], Any]] = {
    "bool": _flag,
    "int": int,
    "int | None": int,
    "float": float,
    "float | None": float,
    "frozenset[int]": _offsets,
    "str": str,
}


def _convert(key: str, type_name: str, text: str) -> Any:
    try:
        return _PARSERS[type_name](text)
    except ValueError as exc:
        raise ValueError(f"{key}={text!r}: {exc}") from None
