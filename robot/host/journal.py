"""A job's journal: which program lines the board acknowledged, written as they come, so a job can resume.

The journal is a text file. Its first line is a header, ``strokebot-journal 1`` and a JSON object with the
program's path and sha256 and the machine profile's path (null for the built-in one). Every line after it
is a record, flushed as it is written: a program line number the board acknowledged, or ``rewind N``: the
lines from N on may not have run (a stop dropped what the board had queued), whatever was acknowledged
before. A last line torn by a crash (no line ending) is ignored on reading and cut off when appending.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

MAGIC = "strokebot-journal 1"


class JournalError(ValueError):
    """A journal that cannot be read or does not belong to the job; the message says which."""


@dataclass(frozen=True)
class JournalHeader:
    """Which job a journal belongs to: the program file (absolute path, sha256) and the profile file."""

    program: str
    sha256: str
    profile: str | None


@dataclass(frozen=True)
class JournalState:
    """What a journal says: its header and the program lines acknowledged (rewinds applied)."""

    header: JournalHeader
    acknowledged: frozenset[int]

    def first_unacknowledged(self) -> int:
        """The 1-based number of the first program line not acknowledged."""
        return first_missing(self.acknowledged)


def first_missing(numbers: frozenset[int] | set[int]) -> int:
    """The smallest positive integer not in ``numbers``."""
    number = 1
    while number in numbers:
        number += 1
    return number


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_journal(path: str | Path, program_lines: int | None = None) -> JournalState:
    """Read a journal; JournalError if it is not one, or a record other than the last is broken.

    With ``program_lines`` (the length of the journal's program), a record naming a line outside the
    program is refused too.
    """
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JournalError(f"cannot read journal {path}: {getattr(exc, 'strerror', None) or exc}") from None
    lines = text.split("\n")
    complete = lines[:-1]  # what follows the last line ending is torn (or empty)
    if not complete or not complete[0].startswith(MAGIC + " "):
        raise JournalError(f"{path} is not a strokebot journal")
    header = _parse_header(complete[0][len(MAGIC) + 1 :], path)
    last = program_lines + 1 if program_lines is not None else None  # "rewind last": nothing of it ran
    acknowledged: set[int] = set()
    for number, record in enumerate(complete[1:], start=2):
        match = _RECORD.fullmatch(record)
        if match is None:
            raise JournalError(f"{path}: line {number} of the journal is damaged: {record[:40]!r}")
        line_no = int(match.group(2))
        if line_no < 1 or (last is not None and line_no > (last if match.group(1) else last - 1)):
            raise JournalError(
                f"{path}: line {number} of the journal names program line {line_no}, "
                f"but the program has {program_lines} lines"
            )
        if match.group(1):
            acknowledged = {n for n in acknowledged if n < line_no}
        else:
            acknowledged.add(line_no)
    return JournalState(header, frozenset(acknowledged))


_RECORD = re.compile(r"(rewind )?([0-9]{1,12})")  # acks may repeat or come out of order: see the streamers
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _parse_header(text: str, path: str | Path) -> JournalHeader:
    """The header's JSON object, every field of the type it must be."""
    try:
        fields = json.loads(text)
    except ValueError:
        raise JournalError(f"{path}: the journal's header is damaged (not JSON)") from None
    if not isinstance(fields, dict) or set(fields) != {"program", "sha256", "profile"}:
        raise JournalError(f"{path}: the journal's header is damaged (it must have program, sha256 and profile)")
    if not isinstance(fields["program"], str) or not os.path.isabs(fields["program"]):
        raise JournalError(f"{path}: the journal's header field 'program' must be an absolute path")
    if not isinstance(fields["sha256"], str) or not _SHA256.fullmatch(fields["sha256"]):
        raise JournalError(f"{path}: the journal's header field 'sha256' must be 64 hexadecimal digits")
    if fields["profile"] is not None and not (isinstance(fields["profile"], str) and fields["profile"]):
        raise JournalError(f"{path}: the journal's header field 'profile' must be a path or null")
    return JournalHeader(**fields)


class Journal:
    """A journal being written; ``acknowledged`` follows what is written (rewinds applied).

    A new journal's file is made with its first record, so a job that never got going leaves no file.
    ``write_error``: the first OSError a write met (a full disk, say), after which the file may lag behind.
    """

    def __init__(self, path: str | Path, state: JournalState, new: bool) -> None:
        self.path = Path(path)
        self.header = state.header
        self.acknowledged = set(state.acknowledged)
        self._new = new
        self._file = None
        self.write_error: OSError | None = None

    @classmethod
    def create(cls, path: str | Path, header: JournalHeader) -> Journal:
        """A new journal for a job (an old file at ``path`` is replaced once the first record comes)."""
        return cls(path, JournalState(header, frozenset()), new=True)

    @classmethod
    def reopen(cls, path: str | Path, program_lines: int | None = None) -> Journal:
        """Go on writing an existing journal, cutting off a torn last record first (see read_journal)."""
        state = read_journal(path, program_lines)
        with open(path, "rb+") as f:
            data = f.read()
            f.truncate(data.rfind(b"\n") + 1)
        return cls(path, state, new=False)

    def acknowledge(self, line_no: int) -> None:
        self.acknowledged.add(line_no)
        self._write(str(line_no))

    def rewind(self, line_no: int) -> None:
        """Lines from ``line_no`` on may not have run: they count as not acknowledged."""
        self.acknowledged = {n for n in self.acknowledged if n < line_no}
        self._write(f"rewind {line_no}")

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                if self.write_error is None:
                    raise  # after a write error the file is known to lag behind: nothing new to say

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, record: str) -> None:
        try:
            if self._file is None:
                self._file = open(self.path, "w" if self._new else "a", encoding="utf-8")
                if self._new:
                    self._file.write(f"{MAGIC} {json.dumps(asdict(self.header), sort_keys=True)}\n")
            self._file.write(record + "\n")
            self._file.flush()
        except OSError as exc:
            self.write_error = self.write_error or exc
            raise


def default_journal_path(program: str | Path) -> Path:
    """Where a job's journal goes unless told otherwise: beside the program, ``drawing.gcode.journal``."""
    program = Path(program)
    return program.with_name(program.name + ".journal")


def program_header(program: str | Path, profile: str | Path | None) -> JournalHeader:
    """The header for a job streaming the file ``program`` with the profile file ``profile``."""
    return JournalHeader(
        program=os.path.abspath(program),
        sha256=file_sha256(program),
        profile=os.path.abspath(profile) if profile is not None else None,
    )
