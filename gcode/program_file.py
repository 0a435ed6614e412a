"""Reading a G-code program file for ``send`` and ``simulate``, refusing what no plotter could run.

A program is UTF-8 text of lines of at most :data:`MAX_LINE_CHARS` characters (GRBL's own line buffer
is far shorter), with no NUL bytes or other control characters, and at least one line with a command
in it. The whole file is at most :data:`MAX_PROGRAM_BYTES`. Every refusal names the file and the line.
"""

from __future__ import annotations

import re
from pathlib import Path

from gcode.reader import strip_comment

MAX_LINE_CHARS = 256
MAX_PROGRAM_BYTES = 256 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # tab and the line breaks that splitlines() takes are fine


class GcodeFileError(ValueError):
    """A G-code file that cannot be read as a program; the message names the file and the line."""


def read_program_file(path: str | Path) -> list[str]:
    """The lines of the G-code program in ``path`` (line endings removed), checked as described above."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PROGRAM_BYTES + 1)
    except OSError as exc:
        raise GcodeFileError(f"cannot read G-code file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_PROGRAM_BYTES:
        raise GcodeFileError(f"G-code file {path} is larger than {MAX_PROGRAM_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8-sig")  # a byte order mark is not part of the first line
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8-sig")
        line_no = _line_at(before, len(before))
        raise GcodeFileError(f"G-code file {path}, line {line_no}: not UTF-8 text (binary data?)") from None
    control = _CONTROL.search(text)
    if control is not None:
        line_no = _line_at(text, control.start())
        raise GcodeFileError(f"G-code file {path}, line {line_no}: NUL bytes or control characters (binary data?)")
    lines = text.splitlines()
    if lines and max(map(len, lines)) > MAX_LINE_CHARS:
        long = next(i for i, line in enumerate(lines, start=1) if len(line) > MAX_LINE_CHARS)
        raise GcodeFileError(
            f"G-code file {path}, line {long}: longer than {MAX_LINE_CHARS} characters "
            f"({len(lines[long - 1])})"
        )
    if not any(strip_comment(line)[0] for line in lines):
        raise GcodeFileError(f"no G-code commands in {path}")
    return lines


def _line_at(text: str, offset: int) -> int:
    """The 1-based line, as ``str.splitlines`` counts them, that holds character ``offset`` of ``text``."""
    return len((text[:offset] + "x").splitlines())
