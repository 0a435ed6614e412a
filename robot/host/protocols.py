"""The streaming protocols by name, and which one a machine uses unless told otherwise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from calibration import MachineProfile
from robot.host.grbl_streamer import GrblStreamer
from robot.host.marlin_streamer import MarlinStreamer
from robot.host.stream_base import Streamer

PROTOCOLS = ("grbl-counting", "grbl-send-response", "marlin")


@dataclass(frozen=True)
class ConnectOptions:
    """What a GRBL board found in a state a stream cannot start from may be done to: the user's choice.

    ``unlock``: clear an alarm with ``$X``; ``reset``: soft-reset a feed hold (the queue is dropped).
    ``on_notice`` hears, in a sentence, what connecting waits for (a board finishing a previous sender's moves).
    Marlin has none of these states: it ignores them.
    """

    unlock: bool = False
    reset: bool = False
    on_notice: Callable[[str], None] | None = None


def default_protocol(profile: MachineProfile) -> str:
    """Character counting for GRBL, numbered send-response lines for Marlin."""
    return "marlin" if profile.firmware == "marlin" else "grbl-counting"


def open_streamer(
    protocol: str,
    port: str,
    baudrate: int,
    timeout_s: float,
    pen_up: Sequence[str],
    connect: ConnectOptions = ConnectOptions(),
) -> Streamer:
    """Connect to the board on ``port`` with ``protocol`` (one of PROTOCOLS); StreamError if none answers.

    ``pen_up`` is the machine's pen-up lines (``gcode.dialects.dialect_for(profile).pen_up``), for faults.
    A GRBL board in alarm or in a feed hold is refused with StreamError unless ``connect`` allows otherwise.
    """
    if protocol == "marlin":
        return MarlinStreamer(port, baudrate, timeout_s, pen_up)
    if protocol in PROTOCOLS:
        return GrblStreamer(
            port, baudrate, timeout_s, send_response=protocol == "grbl-send-response", pen_up=pen_up,
            unlock=connect.unlock, reset=connect.reset, on_notice=connect.on_notice,
        )
    raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
