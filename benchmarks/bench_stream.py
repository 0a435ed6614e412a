"""Streaming throughput: how much of a 115200-baud link each protocol keeps busy with a real plot.

The plot is the example photo fitted with line strokes and planned into G-code for the built-in profile
(or any G-code file given). It is streamed to a simulated board whose motion takes no time while its
serial line moves bytes at the real rate of the baud rate (``time_scale=0``, ``link_time_scale=1``), so the
link is the bottleneck: a protocol that keeps it busy all the time reaches 11,520 bytes/s at 115200 baud
(8N1: 10 bits a byte). The board sits behind a real pseudo-terminal (or, with ``--transport url``, behind
the in-process ``sim://`` port). Bytes/s is the program's bytes as sent (line endings, Marlin's line
numbers and checksums included) over the wall seconds of the stream; each row is the median of ``--repeat``
runs.

    .venv/bin/python benchmarks/bench_stream.py                      # the table in docs/benchmarks.md
    .venv/bin/python benchmarks/bench_stream.py --gcode out/drawing.gcode --repeat 5
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from calibration import default_profile
from gcode.dialects import dialect_for
from robot import PROTOCOLS, PtyPlotter, SimSettings, open_streamer, simulator_for
from robot.boards.sim_link import BITS_PER_BYTE
from strokebot import fitting, pipeline

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "astronaut.png"
TIMEOUT_S = 10.0


def real_plot(strokes: int, iters: int, size_px: int) -> list[str]:
    """The example photo fitted with line strokes and planned for the built-in profile: G-code lines."""
    profile = default_profile()
    options = fitting.FitOptions(strokes=strokes, iters=iters, size_px=size_px, seed=0, device="cpu", progress=False)
    run = fitting.fit_image(PHOTO, profile, options)
    with tempfile.TemporaryDirectory() as tmp:
        svg = Path(tmp) / "strokes.svg"
        svg.write_text(run.svg)
        return pipeline.plan_svg(svg, profile).lines


def stream_once(lines: list[str], protocol: str, baud: int, transport: str) -> dict:
    """Stream the plot once to a fresh simulated board; the numbers of one run."""
    profile = default_profile()
    firmware = "marlin" if protocol == "marlin" else "grbl"
    settings = SimSettings(time_scale=0.0, link_time_scale=1.0)
    pen_up = dialect_for(profile).pen_up
    if transport == "url":
        url = f"sim://?time_scale=0&link_time_scale=1&firmware={firmware}"
        with open_streamer(protocol, url, baud, TIMEOUT_S, pen_up) as streamer:
            report = streamer.stream(lines, progress=False)
    else:
        with PtyPlotter(simulator_for(profile, settings, firmware=firmware), baud=baud) as device:
            with open_streamer(protocol, device.port, baud, TIMEOUT_S, pen_up) as streamer:
                report = streamer.stream(lines, progress=False)
    if not report.ok:
        raise RuntimeError(f"{protocol}: the stream failed: {report}")
    return {"bytes": report.bytes_sent, "seconds": report.seconds, "lines": report.lines_sent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gcode", type=Path, help="stream this G-code file instead of fitting the example photo")
    parser.add_argument("--strokes", type=int, default=1500, help="line strokes fitted to the example photo")
    parser.add_argument("--iters", type=int, default=150)
    parser.add_argument("--size", type=int, default=128, help="fit resolution, px")
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--transport", choices=("pty", "url"), default="pty")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    args = parser.parse_args()

    if args.gcode:
        lines, source = args.gcode.read_text().splitlines(), str(args.gcode)
    else:
        lines = real_plot(args.strokes, args.iters, args.size)
        source = f"{PHOTO.name}, {args.strokes} lines, {args.iters} iters at {args.size} px, built-in profile"
    budget = args.baud / BITS_PER_BYTE
    print(f"plot: {source}: {len(lines)} G-code lines")
    print(f"link: {args.baud} baud 8N1 = {budget:,.0f} bytes/s, board motion instant, transport {args.transport}, "
          f"median of {args.repeat} runs")
    print("| protocol | lines sent | bytes sent | seconds | bytes/s | share of the link |")
    print("|---|---:|---:|---:|---:|---:|")
    for protocol in args.protocols.split(","):
        runs = [stream_once(lines, protocol, args.baud, args.transport) for _ in range(args.repeat)]
        run = sorted(runs, key=lambda r: r["bytes"] / r["seconds"])[len(runs) // 2]
        rate = run["bytes"] / run["seconds"]
        print(f"| {protocol} | {run['lines']} | {run['bytes']:,} | {run['seconds']:.2f} | {rate:,.0f} | "
              f"{rate / budget:.1%} |")


if __name__ == "__main__":
    main()
