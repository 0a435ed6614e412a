"""What a GRBL 1.1h board prints: its banner and help, ``ok``, ``error:N``, its messages, and numbers as
GRBL's printFloat writes them (32-bit floats, rounded half up)."""

from __future__ import annotations

import struct

GRBL_VERSION = "1.1h"
GRBL_BUILD = "20190825"
GRBL_BANNER = b"\r\nGrbl 1.1h ['$' for help]\r\n"
HELP = b"[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]\r\n"
BUILD_OPTIONS = "V"  # report.c's [OPT:] letters for config.h as shipped: VARIABLE_SPINDLE, nothing else
OK = b"ok\r\n"

MSG_RESET_TO_CONTINUE = b"[MSG:Reset to continue]\r\n"
MSG_LOCKED = b"[MSG:'$H'|'$X' to unlock]\r\n"
MSG_UNLOCKED = b"[MSG:Caution: Unlocked]\r\n"
MSG_ENABLED = b"[MSG:Enabled]\r\n"
MSG_DISABLED = b"[MSG:Disabled]\r\n"
MSG_PROGRAM_END = b"[MSG:Pgm End]\r\n"
MSG_RESTORING = b"[MSG:Restoring defaults]\r\n"
MSG_SLEEPING = b"[MSG:Sleeping]\r\n"


def status_reply(code: int) -> bytes:
    return OK if code == 0 else error_reply(code)


def error_reply(code: int) -> bytes:
    return b"error:%d\r\n" % code


def grbl_number(value: float, decimals: int) -> str:
    """``value`` as GRBL's printFloat writes it: a 32-bit float rounded half up, '-' before any negative value."""
    value = float32(value)
    whole, fraction = divmod(int(abs(value) * 10**decimals + 0.5), 10**decimals)
    sign = "-" if value < 0 else ""
    return f"{sign}{whole}.{fraction:0{decimals}d}" if decimals else f"{sign}{whole}"


def float32(value: float) -> float:
    """``value`` as the AVR's 32-bit float holds it (clamped to the largest finite one)."""
    return struct.unpack("<f", struct.pack("<f", max(-3.4e38, min(3.4e38, value))))[0]
