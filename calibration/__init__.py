"""Machine profiles (TOML) and, later, calibration patterns and fitted corrections."""

from calibration.profile import (
    FIRMWARE_MAX_LINE_CHARS,
    GRBL_MAX_LINE_CHARS,
    MARLIN_MAX_LINE_CHARS,
    MachineProfile,
    Motion,
    PenLift,
    PenProfile,
    ProfileError,
    WorkArea,
    default_profile,
    load_profile,
    parse_profile,
    profile_to_toml,
)

__all__ = [
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
]
