"""Marlin's serial line format, shared by the streamer and the simulator: numbered lines with checksums."""

from __future__ import annotations

import re

from calibration import MARLIN_MAX_LINE_CHARS

MAX_CMD_SIZE = MARLIN_MAX_LINE_CHARS + 1  # Marlin's longest line, line ending included: what comes after is dropped

_LINE_NUMBER = re.compile(r"N(-?\d*)\s*")
_COMMAND_WORD = re.compile(r"([GM])0*(\d+)(?![\d.])")


def checksum(text: str) -> int:
    """Marlin's line checksum: the XOR of the bytes of ``text`` (everything before the ``*``)."""
    value = 0
    for byte in text.encode("ascii", "replace"):
        value ^= byte
    return value


def numbered(number: int, command: str) -> str:
    """A command as a host sends it: ``N<number> <command>*<checksum>`` (without the line ending)."""
    text = f"N{number} {command}"
    return f"{text}*{checksum(text)}"


def marlin_code(line: str) -> str:
    """What of a program line Marlin reads: everything before a ``;`` comment, without outer whitespace."""
    return line.split(";", 1)[0].strip()


def command_of(line: str) -> str:
    """A received line without its line number and checksum, e.g. ``M108`` of ``N7 M108*35``."""
    text = line.strip()
    number = _LINE_NUMBER.match(text)
    if number:
        text = text[number.end() :]
    return text.split("*", 1)[0].strip()


def command_word(command: str) -> str:
    """The command of a line as a word without leading zeros ("M0" for "M00 change pen"), or ""."""
    found = _COMMAND_WORD.match(command.strip().upper())
    return f"{found.group(1)}{found.group(2)}" if found else ""
