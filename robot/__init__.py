"""The machine side: streamers for GRBL and Marlin boards, simulated GRBL and Marlin pen plotters (on a
pseudo-terminal or as a ``sim://`` pyserial URL), the job journal and resume, the page renderer.
Importing the package registers the ``sim://`` URL scheme with pyserial."""

from robot import sim_url
from robot.board_sim import BoardSimulator, ExecutedLine, SimSettings
from robot.drawing import render_page, render_strokes, stroke_coverage
from robot.faults import Faults
from robot.grbl_codes import GRBL_ALARMS, GRBL_ERRORS
from robot.grbl_sim import GrblSimulator
from robot.marlin import MarlinStreamer
from robot.marlin_sim import MarlinSimulator
from robot.protocols import PROTOCOLS, ConnectOptions, default_protocol, open_streamer
from robot.pty_device import PtyPlotter
from robot.serial_port import StreamError
from robot.sim_link import SimLink
from robot.simulators import simulator_for
from robot.stream_base import StreamInterrupted, StreamReport, Streamer
from robot.streamer import GrblStreamer, clean_line, is_program_pause

sim_url.register()

__all__ = [
    "GRBL_ALARMS",
    "GRBL_ERRORS",
    "PROTOCOLS",
    "BoardSimulator",
    "ConnectOptions",
    "ExecutedLine",
    "Faults",
    "GrblSimulator",
    "GrblStreamer",
    "MarlinSimulator",
    "MarlinStreamer",
    "PtyPlotter",
    "SimLink",
    "SimSettings",
    "StreamError",
    "StreamInterrupted",
    "StreamReport",
    "Streamer",
    "clean_line",
    "default_protocol",
    "is_program_pause",
    "open_streamer",
    "render_page",
    "render_strokes",
    "simulator_for",
    "stroke_coverage",
]
