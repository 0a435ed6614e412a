"""The simulated board for a machine: GRBL or Marlin, as the profile's firmware says (or as asked)."""

from __future__ import annotations

import time
from collections.abc import Callable

from calibration import MachineProfile
from robot.boards.board import BoardSimulator, SimSettings
from robot.boards.faults import Faults
from robot.boards.grbl_board import GrblSimulator
from robot.boards.marlin_board import MarlinSimulator

SIMULATOR_CLASSES: dict[str, type[BoardSimulator]] = {"grbl": GrblSimulator, "marlin": MarlinSimulator}


def simulator_for(
    profile: MachineProfile,
    settings: SimSettings = SimSettings(),
    faults: Faults = Faults(),
    clock: Callable[[], float] = time.monotonic,
    firmware: str | None = None,
) -> BoardSimulator:
    """A freshly powered-up board running ``firmware`` (default: the profile's) for ``profile``."""
    firmware = firmware or profile.firmware
    if firmware not in SIMULATOR_CLASSES:
        raise ValueError(f"no simulator for firmware {firmware!r}; known: {', '.join(SIMULATOR_CLASSES)}")
    return SIMULATOR_CLASSES[firmware](profile, settings, faults, clock)
