"""The streaming protocols by name, and which one a machine uses unless told otherwise."""

from __future__ import annotations

from collections.abc import Sequence

from calibration import MachineProfile
from robot.marlin import MarlinStreamer
from robot.stream_base import Streamer
from robot.streamer import GrblStreamer

PROTOCOLS = ("grbl-counting", "grbl-send-response", "marlin")


def default_protocol(profile: MachineProfile) -> str:
    """Character counting for GRBL, numbered send-response lines for Marlin."""
    return "marlin" if profile.firmware == "marlin" else "grbl-counting"


def open_streamer(
    protocol: str, port: str, baudrate: int, timeout_s: float, pen_up: Sequence[str]
) -> Streamer:
    """Connect to the board on ``port`` with ``protocol`` (one of PROTOCOLS); StreamError if none answers.

    ``pen_up`` is the machine's pen-up lines (``gcode.dialects.dialect_for(profile).pen_up``), for faults.
    """
    if protocol == "marlin":
        return MarlinStreamer(port, baudrate, timeout_s, pen_up)
    if protocol in PROTOCOLS:
        return GrblStreamer(port, baudrate, timeout_s, send_response=protocol == "grbl-send-response", pen_up=pen_up)
    raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
