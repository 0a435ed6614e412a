"""The machine side: a simulated GRBL 1.1 pen plotter (on a pseudo-terminal or as a ``sim://`` pyserial URL),
the streamer, the page renderer. Importing the package registers the ``sim://`` URL scheme with pyserial."""

from robot import sim_url
from robot.drawing import render_page, render_strokes, stroke_coverage
from robot.faults import Faults
from robot.grbl_codes import GRBL_ALARMS, GRBL_ERRORS
from robot.grbl_sim import ExecutedLine, GrblSimulator, SimSettings
from robot.pty_device import PtyPlotter
from robot.sim_link import SimLink
from robot.streamer import (
    GrblStreamer,
    StreamError,
    StreamReport,
    clean_line,
    is_program_pause,
)

sim_url.register()

__all__ = [
    "GRBL_ALARMS",
    "GRBL_ERRORS",
    "ExecutedLine",
    "Faults",
    "GrblSimulator",
    "GrblStreamer",
    "PtyPlotter",
    "SimLink",
    "SimSettings",
    "StreamError",
    "StreamReport",
    "clean_line",
    "is_program_pause",
    "render_page",
    "render_strokes",
    "stroke_coverage",
]
