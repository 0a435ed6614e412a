"""The ``strokebot`` command line: fit, plan, simulate, send, draw, batch, calibrate, painter, profile.

The commands live beside this module (``cli_fit``, ``cli_machine``, ``cli_batch``, ``cli_calibrate``,
``cli_painter``); this is the group and its entry point. Every failure the user can cause (a bad file,
option, profile or port) ends with one line on stderr and exit status 2; output paths and the port are
checked before any work, and output files are written whole at the end (temporary file, then rename) or
not at all. SIGTERM and SIGHUP stop any command the way Ctrl-C does (a stream: feed hold, pen up, journal);
a stopped command exits with 128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP.
"""

from __future__ import annotations

import atexit
import gc
import signal
import sys
import warnings

import click
from PIL import Image

from robot import StreamError
from robot.host.stopping import signal_of, stop_on_signals
from strokebot import jobs
from strokebot.cli_batch import batch
from strokebot.cli_calibrate import calibrate
from strokebot.cli_common import StrokebotFailure
from strokebot.cli_fit import draw, fit
from strokebot.cli_machine import plan, ports, profile, send, simulate
from strokebot.cli_painter import painter

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_SIGNAL_BASE = 128  # a command stopped by a signal exits with 128 + its number (SIGTERM 143, SIGHUP 129)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="strokebot")
def cli() -> None:
    """strokebot turns a picture into a drawing made by a pen plotter.

    \b
    image --fit--> strokes.svg --plan--> drawing.gcode --send--> plotter (or the simulator)

    Start with `strokebot draw photo.jpg -o out/`, which does all of it on a simulated plotter.
    """


for command in (fit, plan, simulate, send, draw, ports, profile, painter, calibrate, batch):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every user-caused failure into one line and exit status 2."""
    # What the imports built (modules, numba's and vpype's tables) lives until exit, so the collector need not
    # walk it on every pass; at exit, freezing what the command built spares the interpreter one more walk over
    # all of it (0.1-0.2 s of `strokebot plan` on a few thousand lines, most of it numba's type registries).
    gc.freeze()
    atexit.register(gc.freeze)
    warnings.simplefilter("error", Image.DecompressionBombWarning)  # strokeopt.image refuses it in one line
    with stop_on_signals():  # SIGTERM, SIGHUP: a KeyboardInterrupt, which click turns into Abort
        try:
            code = cli.main(args=argv, prog_name="strokebot", standalone_mode=False)
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.exceptions.Abort as exc:
            signum = getattr(exc, "signum", None) or signal_of(exc.__cause__)
            said = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
            click.echo(f"strokebot: {said}", err=True)
            code = EXIT_SIGNAL_BASE + signum
        except click.ClickException as exc:
            click.echo(f"strokebot: error: {exc.format_message()}", err=True)
            code = EXIT_USER_ERROR
        except (StrokebotFailure, jobs.JobError, StreamError, ValueError, OSError) as exc:
            click.echo(f"strokebot: error: {_one_line(exc)}", err=True)
            code = EXIT_USER_ERROR
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
