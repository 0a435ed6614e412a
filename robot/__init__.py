"""The machine side: streamers for GRBL and Marlin boards, simulated GRBL and Marlin pen plotters (on a
pseudo-terminal or as a ``sim://`` pyserial URL), the job journal and resume, the page renderer.
Importing the package registers the ``sim://`` URL scheme with pyserial."""

from robot.boards import sim_url
from robot.boards.board import BoardSimulator, ExecutedLine, SimSettings
from robot.boards.faults import Faults
from robot.boards.grbl_board import GrblSimulator
from robot.boards.marlin_board import MarlinSimulator
from robot.boards.pty_device import PtyPlotter
from robot.boards.sim_link import SimLink
from robot.boards.simulators import simulator_for
from robot.firmware.grbl_codes import GRBL_ALARMS, GRBL_ERRORS
from robot.host.grbl_streamer import GrblStreamer, clean_line, is_program_pause
from robot.host.marlin_streamer import MarlinStreamer
from robot.host.protocols import PROTOCOLS, ConnectOptions, default_protocol, open_streamer
from robot.host.serial_port import StreamError
from robot.host.stream_base import StreamInterrupted, StreamReport, Streamer
from robot.page.render import render_page, render_strokes, stroke_coverage

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
