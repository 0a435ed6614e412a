"""Machine profiles (TOML) and, later, calibration patterns and fitted corrections."""

from calibration.profile import (
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
