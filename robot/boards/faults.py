"""Faults to inject into the simulated plotter: line noise, errors, slow answers and a board that hangs up.

Streamers are judged by what they do when the link or the board misbehaves; these faults make the
misbehaviour repeatable. Line noise is deterministic: the same seed hits the same byte offsets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gcode.reader import UNSUPPORTED_COMMAND


@dataclass(frozen=True)
class Faults:
    """What goes wrong and when; the defaults inject nothing.

    Line noise hits the bytes the board receives, counted from offset 0 at power-up (realtime bytes such as
    ``?`` included): ``drop_offsets`` / ``corrupt_offsets`` name bytes exactly, ``drop_rate`` /
    ``corrupt_rate`` hit every byte with that probability, drawn from ``random.Random(seed)``. A corrupted
    byte arrives with one of its 8 bits flipped (the bit drawn from the same generator); a byte both dropped
    and corrupted is dropped.

    Lines are counted from 1 at power-up: every line with something left in it after GRBL's filtering
    (an empty or comment-only line is answered ``ok`` but not counted). ``error_on_line`` answers that line
    ``error:<error_code>`` instead of executing it (20: unsupported command, what a garbled word gets).
    ``disconnect_after_lines`` hangs up just after the answer to that line has left the board;
    ``silent_after_lines`` makes the board freeze there instead (a hung firmware: the line stays up, but
    nothing more is executed or answered, not even ``?``); ``garbage_after_lines`` sends a line of noise
    after that line's answer (bytes that are no answer at all, as a loose cable makes). ``alarm_on_line``
    (GRBL) trips a hard limit switch as that line arrives: ALARM:1, motion stops, the queue is lost and
    the line is not run; GRBL then ignores everything but a reset.
    ``ack_delay_s`` sends every answer to a line (``ok``, ``error:N``) that many clock seconds late; these
    are real seconds, not scaled by ``time_scale``, so they slow an instant simulator down too. Realtime
    answers (status reports, banners) are not delayed.
    """

    drop_offsets: frozenset[int] = frozenset()
    drop_rate: float = 0.0
    corrupt_offsets: frozenset[int] = frozenset()
    corrupt_rate: float = 0.0
    seed: int = 0
    error_on_line: int | None = None
    error_code: int = UNSUPPORTED_COMMAND
    disconnect_after_lines: int | None = None
    silent_after_lines: int | None = None
    garbage_after_lines: int | None = None
    alarm_on_line: int | None = None
    ack_delay_s: float = 0.0

    @property
    def noisy(self) -> bool:
        """True when some received bytes may be dropped or corrupted."""
        return bool(self.drop_offsets or self.corrupt_offsets or self.drop_rate or self.corrupt_rate)


class LineNoise:
    """Drops and corrupts received bytes as ``faults`` says, counting byte offsets across calls.

    Every byte draws the same three numbers from the seeded generator, so what happens to the byte at
    offset k depends only on the seed and k, not on how the bytes were split into reads.
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.offset = 0  # bytes received so far
        self.dropped = 0
        self.corrupted = 0
        self._rng = random.Random(faults.seed)

    def apply(self, data: bytes) -> bytes:
        """The bytes as they arrive after the noise."""
        f = self.faults
        if not f.noisy:
            self.offset += len(data)
            return data
        out = bytearray()
        for byte in data:
            drop, corrupt, bit = self._rng.random(), self._rng.random(), self._rng.randrange(8)
            offset = self.offset
            self.offset += 1
            if offset in f.drop_offsets or drop < f.drop_rate:
                self.dropped += 1
                continue
            if offset in f.corrupt_offsets or corrupt < f.corrupt_rate:
                self.corrupted += 1
                byte ^= 1 << bit
            out.append(byte)
        return bytes(out)
