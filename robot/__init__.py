"""The machine side: a simulated GRBL 1.1 pen plotter on a real pseudo-terminal, the streamer, the page renderer."""

from robot.drawing import render_page, render_strokes, stroke_coverage
from robot.grbl_codes import GRBL_ALARMS, GRBL_ERRORS
from robot.grbl_sim import GrblSimulator, SimSettings
from robot.pty_device import PtyPlotter
from robot.streamer import (
    GrblStreamer,
    StreamError,
    StreamReport,
    clean_line,
    is_program_pause,
)

__all__ = [
    "GRBL_ALARMS",
    "GRBL_ERRORS",
    "GrblSimulator",
    "GrblStreamer",
    "PtyPlotter",
    "SimSettings",
    "StreamError",
    "StreamReport",
    "clean_line",
    "is_program_pause",
    "render_page",
    "render_strokes",
    "stroke_coverage",
]
