"""What the command modules share: the failure that becomes one error line, and options and checks they all use."""

from __future__ import annotations

from pathlib import Path

import click
from serial import Serial

from calibration import MachineProfile
from strokebot.files import check_output_file

# the rates serial hardware runs at (pyserial's list, from 300, and those plotters' firmware use besides)
BAUD_RATES = tuple(sorted({rate for rate in Serial.BAUDRATES if rate >= 300} | {14400, 28800, 76800, 250000}))


def check_baud(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value not in BAUD_RATES:
        raise click.BadParameter(f"{value} is not a serial rate; use one such as 9600, 115200 or 250000")
    return value


class StrokebotFailure(Exception):
    """A run that could not do what was asked; its message is the one line the user sees."""


def profile_option(f):
    return click.option(
        "--profile",
        "profile_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Machine profile (TOML). Default: the built-in A4 GRBL servo plotter (see `strokebot profile show`).",
    )(f)


def pens_phrase(profile: MachineProfile) -> str:
    """The profile's pens in a few words: "1 pen (black)", "3 pens (black, red, blue)"."""
    names = ", ".join(pen.name for pen in profile.pens)
    return f"{len(profile.pens)} pen{'s' if len(profile.pens) > 1 else ''} ({names})"


def check_output_files(*paths: Path | None) -> None:
    """Refuse, before any work, output files that cannot be written, or two outputs that are one file."""
    seen: dict[Path, Path] = {}
    for path in filter(None, paths):
        check_output_file(path)
        if path.resolve() in seen:
            raise StrokebotFailure(f"{path} is named for two outputs; give each output its own file")
        seen[path.resolve()] = path
