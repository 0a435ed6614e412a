"""The simulated GRBL answers a recorded session with the real GRBL 1.1h line for line.

``tests/data/grbl_1.1h_transcript.txt`` was recorded from the real firmware built for the host:

    # comment
    = power-up                   the board is switched off and on again (its EEPROM keeps what was stored)
    < Grbl 1.1h ['$' for help]   what the firmware said, one line each
    > $I                         what the host sent: a line; "?", "!", "~" alone are realtime bytes, "^X" ctrl-x

The first power-up is of a board with GRBL's factory settings; one whose first words are ``error:7`` was on
a blank EEPROM, and "= power-up (fresh)" on factory settings again. ``> `` text with a backslash escape was
sent as it stands (no line ending added); ``$x=v`` words in a ``# settings:`` comment were applied by the
recorder, unrecorded, after the power-up before it. Empty lines are compared only if the transcript records
any (this recorder drops the one that starts GRBL's banner).

The board is the one the recording was made on: a stock GRBL 1.1h with no limit switches
(``limit_switches=False``: ``$H`` fails with ALARM:9), and with the simulator's one deliberate difference
undone: the simulator's machine frame is the plotter's, soft limits keeping moves in [0, $130] x [0, $131],
where the stock firmware's machine space is negative; the replay's board checks soft limits the stock way
(:class:`StockFrameGrbl`).

Each board line must equal the recorded one. A status report taken while the machine moves (the recording
or the simulator says Run, Jog, Home or Hold) cannot match in its numbers: of those the state and the
field names are compared, and so of every report after a reset in motion (ALARM:3) until the next
power-up, as where the machine stopped depends on when the reset came. Time in the simulator passes only
as the recording shows it did: when the board has said less than was recorded, or when the recording
reports the machine at rest and the simulator still moves it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from calibration import MachineProfile, default_profile
from robot.boards.board import SimSettings
from robot.boards.grbl_board import GrblSimulator
from robot.boards.grbl_eeprom import GrblEeprom

TRANSCRIPT = Path(__file__).resolve().parent / "data" / "grbl_1.1h_transcript.txt"
REALTIME = {"?": b"?", "!": b"!", "~": b"~", "^X": b"\x18"}
SETTING = re.compile(r"\$\d+=[-+.\d]+")
MOVING = ("Run", "Jog", "Home", "Hold")
HOST_BUILD = SimSettings(limit_switches=False, time_scale=1.0)  # grbl-sim: every input reads its pull-up


@dataclass(frozen=True)
class Exchange:
    """One step of a recorded session: a power-up or what the host sent, and every line the board said next.

    ``settings``: for a power-up, what the recorder set after it without recording the answers.
    """

    line_no: int
    sent: str | None  # None for a power-up
    keep_settings: bool  # a power-up on the EEPROM as the board before it left it
    said: list[str]
    settings: list[str] = dataclasses.field(default_factory=list)


def read_transcript(path: Path) -> list[Exchange]:
    """The exchanges of a transcript file, in order; a line of another kind is an error naming its number."""
    exchanges: list[Exchange] = []
    settings_before: list[str] = []  # a settings header above the first power-up belongs to it
    for line_no, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.startswith("# settings:"):
            pending = SETTING.findall(text)
            power_ups = [e for e in exchanges if e.sent is None]
            (power_ups[-1].settings if power_ups else settings_before).extend(pending)
            continue
        if not text.strip() or text.startswith("#"):
            continue
        if text.startswith("="):
            if not text[1:].strip().startswith("power-up"):
                raise ValueError(f"{path.name}:{line_no}: unknown directive {text!r}")
            exchanges.append(Exchange(line_no, None, "fresh" not in text, [], settings_before if not exchanges else []))
        elif text.startswith(">"):
            exchanges.append(Exchange(line_no, text[2:] if len(text) > 1 else "", False, []))
        elif text.startswith("<") and exchanges:
            exchanges[-1].said.append(text[2:] if len(text) > 1 else "")
        else:
            raise ValueError(f"{path.name}:{line_no}: not a comment, '=', '>' or '<' line: {text!r}")
    return exchanges


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def factory_profile() -> MachineProfile:
    """A machine whose profile says what a stock GRBL's defaults.h says: 200 mm travel, 500 mm/min, 10 mm/s²."""
    profile = default_profile()
    return dataclasses.replace(
        profile,
        work_area=dataclasses.replace(profile.work_area, width_mm=200.0, height_mm=200.0),
        motion=dataclasses.replace(profile.motion, travel_feed_mm_min=500.0, acceleration_mm_s2=10.0),
        pen_lift=dataclasses.replace(profile.pen_lift, down_s=1000),
    )


class StockFrameGrbl(GrblSimulator):
    """The simulator with soft limits where the stock GRBL 1.1h puts them: in negative machine space."""

    def _inside(self, point: tuple[float, ...]) -> bool:
        return -self._setting(130) <= point[0] <= 0 and -self._setting(131) <= point[1] <= 0


class Replay:
    """Plays the host's side of a transcript against a simulated board on a clock that moves when needed."""

    def __init__(self, keeps_blank_lines: bool) -> None:
        self.clock = FakeClock()
        self.board: GrblSimulator | None = None
        self.keeps_blank_lines = keeps_blank_lines
        self.position_unknown = False  # a reset in motion stopped the machine at a time the recording decided

    def power_up(self, exchange: Exchange) -> list[str]:
        if [line for line in exchange.said if line][:1] == ["error:7"]:
            eeprom = GrblEeprom.blank()
        else:
            eeprom = self.board.eeprom if exchange.keep_settings and self.board is not None else None
        self.position_unknown = False
        self.board = StockFrameGrbl(factory_profile(), HOST_BUILD, clock=self.clock, eeprom=eeprom)
        said = self._lines(self.board.banner() + self.board.poll())
        for setting in exchange.settings:
            answer = self.board.receive(setting.encode("ascii") + b"\n")
            assert answer == b"ok\r\n", f"the recorder's setting {setting} was answered {answer!r}"
        return said

    def send(self, sent: str, expected: list[str]) -> list[str]:
        board = self.board
        assert board is not None, "the transcript sends before any power-up"
        report = next((line for line in expected if line.startswith("<")), None)
        if report is not None and not _moving(report):
            self._run_while(lambda: board.state in MOVING and board.state != "Hold")
        said = self._lines(board.receive(_bytes(sent)))
        while len(said) < len(expected) and board.due_in_s() is not None:
            self.clock.now += board.due_in_s()
            said += self._lines(board.poll())
        return said

    def _run_while(self, condition: Callable[[], bool]) -> None:
        while condition() and self.board.due_in_s() is not None:
            self.clock.now += self.board.due_in_s()
            self.board.poll()

    def _lines(self, data: bytes) -> list[str]:
        lines = data.decode("ascii").split("\r\n")[:-1] if data else []
        return lines if self.keeps_blank_lines else [line for line in lines if line]


def _bytes(sent: str) -> bytes:
    """What the host sent for a ``>`` line: a realtime byte, escaped bytes as they stand, or a line."""
    if sent in REALTIME:
        return REALTIME[sent]
    if "\\" in sent:
        return sent.encode("ascii").decode("unicode_escape").encode("latin-1")
    return sent.encode("ascii") + b"\n"


def _moving(line: str) -> bool:
    return line.startswith("<") and line[1:].split("|")[0].split(":")[0] in MOVING


def _shape(line: str) -> tuple[str, ...]:
    """A status report's state (without its sub-state) and field names: what a report in motion must match."""
    state, *fields = line.strip("<>").split("|")
    return (state.split(":")[0], *(field.split(":")[0] for field in fields))


def mismatches(exchanges: list[Exchange]) -> list[str]:
    """Every exchange whose answer differs from the recording, described; empty when the board matched."""
    replay = Replay(keeps_blank_lines=any(line == "" for e in exchanges for line in e.said))
    wrong = []
    for exchange in exchanges:
        expected = exchange.said if replay.keeps_blank_lines else [line for line in exchange.said if line]
        if exchange.sent is None:
            said = replay.power_up(exchange)
        else:
            said = replay.send(exchange.sent, expected)
        loose = replay.position_unknown
        replay.position_unknown = loose or "ALARM:3" in expected
        if len(said) != len(expected) or not all(_same(a, b, loose) for a, b in zip(said, expected)):
            wrong.append(f"line {exchange.line_no} ({exchange.sent or 'power-up'}): said {said}, recorded {expected}")
    return wrong


def _same(said: str, recorded: str, position_unknown: bool) -> bool:
    if said == recorded:
        return True
    loose = position_unknown or _moving(said) or _moving(recorded)
    return loose and said.startswith("<") and recorded.startswith("<") and _shape(said) == _shape(recorded)


def test_the_simulator_answers_the_recorded_session_as_the_real_grbl_did():
    exchanges = read_transcript(TRANSCRIPT)
    assert exchanges and exchanges[0].sent is None, "a transcript starts with a power-up"
    assert mismatches(exchanges) == []
