"""Machine profiles (TOML), the calibration test sheet, and measuring what a machine really draws.

The sheet, board and measurement names load on first use (they bring OpenCV), so that reading a profile
stays light.
"""

from calibration.profile import (
    FIRMWARE_MAX_LINE_CHARS,
    GRBL_MAX_LINE_CHARS,
    MARLIN_MAX_LINE_CHARS,
    Calibration,
    MachineProfile,
    Motion,
    PenLift,
    PenProfile,
    ProfileError,
    SimulatedMachine,
    Tone,
    WorkArea,
    as_calibrated,
    as_simulated,
    tone_points,
)
from calibration.profile_file import default_profile, load_profile, parse_profile, profile_to_toml

__all__ = [
    "Calibration",
    "SimulatedMachine",
    "Tone",
    "as_calibrated",
    "tone_points",
    "as_simulated",
    "FIRMWARE_MAX_LINE_CHARS",
    "GRBL_MAX_LINE_CHARS",
    "MARLIN_MAX_LINE_CHARS",
    "MachineProfile",
    "Motion",
    "PenLift",
    "PenProfile",
    "ProfileError",
    "WorkArea",
    "default_profile",
    "load_profile",
    "parse_profile",
    "profile_to_toml",
    # calibration sheets and measurement (loaded on first use)
    "CalibrationPattern",
    "MachineError",
    "Measurement",
    "build_pattern",
    "board_svg",
    "corrections_toml",
    "measure",
    "pattern_from_json",
    "pattern_to_json",
    "pattern_to_svg",
    "photo_reference",
    "read_pattern_file",
    "scan_reference",
]

_LAZY = {
    "CalibrationPattern": "calibration.pattern",
    "build_pattern": "calibration.pattern",
    "MachineError": "calibration.machine",
    "Measurement": "calibration.measure",
    "measure": "calibration.measure",
    "photo_reference": "calibration.measure",
    "scan_reference": "calibration.measure",
    "board_svg": "calibration.board",
    "corrections_toml": "calibration.corrections",
    "pattern_from_json": "calibration.sheet",
    "pattern_to_json": "calibration.sheet",
    "pattern_to_svg": "calibration.sheet",
    "read_pattern_file": "calibration.sheet",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'calibration' has no attribute {name!r}")
