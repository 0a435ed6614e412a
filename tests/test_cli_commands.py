"""Each subcommand on its own, its --help, and bad input: one error line, exit 2, nothing written."""

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest

from calibration import default_profile, parse_profile, profile_to_toml
from gcode.reader import strip_comment
from robot import GrblStreamer

SUBCOMMANDS = ["fit", "plan", "simulate", "send", "ports", "draw", "profile show"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_explains_itself_with_an_example(run_cli, command):
    proc = run_cli(*command.split(), "--help")
    assert proc.returncode == 0
    assert "Example" in proc.stdout and "strokebot " + command.split()[0] in proc.stdout


def test_fit_then_plan_then_simulate_then_send(run_cli, small_photo, tmp_path):
    fit = run_cli("fit", small_photo, "-o", tmp_path, "--strokes", "150", "--iters", "20", "--size", "48", "--quiet")
    assert fit.returncode == 0, fit.stderr
    assert json.loads((tmp_path / "fit.json").read_text())["strokes"] == 150

    plan = run_cli("plan", tmp_path / "strokes.svg", "-o", tmp_path / "d.gcode", "--stats", tmp_path / "plan.json")
    assert plan.returncode == 0, plan.stderr
    stats = json.loads((tmp_path / "plan.json").read_text())
    gcode_lines = (tmp_path / "d.gcode").read_text().splitlines()
    assert stats["lines"] == len(gcode_lines)
    assert stats["pen_lifts"] == sum(1 for l in gcode_lines if l == "M5") - 1  # the M5 in the header is no lift

    sim = run_cli("simulate", tmp_path / "d.gcode", "-o", tmp_path / "sim.png")
    assert sim.returncode == 0, sim.stderr
    assert (tmp_path / "sim.png").stat().st_size > 0

    send = run_cli("send", tmp_path / "d.gcode", "--port", "sim", "--quiet")
    assert send.returncode == 0, send.stderr
    code_lines = [line for line in gcode_lines if strip_comment(line)[0]]  # comments are not sent
    assert send.stdout.startswith(f"sent {len(code_lines)} lines, {len(code_lines)} acknowledged"), send.stdout


def test_the_same_seed_gives_the_same_svg(run_cli, small_photo, tmp_path):
    args = ["--strokes", "60", "--iters", "10", "--size", "32", "--seed", "5", "--quiet"]
    assert run_cli("fit", small_photo, "-o", tmp_path / "a", *args).returncode == 0
    assert run_cli("fit", small_photo, "-o", tmp_path / "b", *args).returncode == 0
    assert (tmp_path / "a" / "strokes.svg").read_bytes() == (tmp_path / "b" / "strokes.svg").read_bytes()


def test_profile_show_prints_the_default_profile_as_toml(run_cli):
    proc = run_cli("profile", "show")
    assert proc.returncode == 0
    assert parse_profile(proc.stdout) == default_profile()


def test_a_virtual_plotter_on_a_pty_draws_what_it_is_sent(tmp_path):
    png = tmp_path / "pty.png"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from strokebot.cli import main; main()", "simulate", "--pty", "-o", str(png)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/")
        with GrblStreamer(port, timeout_s=5) as streamer:
            report = streamer.stream(["G21", "G90", "G0 X20 Y20", "M3 S1000", "G1 X80 Y20 F3000", "M5"],
                                     progress=False)
        assert report.lines_acknowledged == 6 and not report.errors
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert png.exists() and "1 strokes" in err


BAD_PROFILE = profile_to_toml(default_profile()).replace("travel_feed_mm_min = 6000.0", "travel_feed_mm_min = 0")


@pytest.mark.parametrize(
    "case, args_fn, message",
    [
        ("missing image", lambda d: ["fit", d / "nope.png", "-o", d / "out"], "no such file"),
        ("not an image", lambda d: ["fit", _write(d / "x.png", "hello"), "-o", d / "out"], "not an image"),
        ("unknown primitive", lambda d: ["fit", d / "x.png", "-o", d / "out", "--primitive", "spline"], "spline"),
        ("bad profile", lambda d: ["draw", d / "x.png", "-o", d / "out", "--profile",
                                   _write(d / "p.toml", BAD_PROFILE)], "motion.travel_feed_mm_min"),
        ("unreachable port", lambda d: ["draw", d / "x.png", "-o", d / "out", "--port", "/dev/ttyNOPE9"],
         "/dev/ttyNOPE9"),
        ("malformed svg", lambda d: ["plan", _write(d / "s.svg", "<svg><path d="), "-o", d / "out" / "x.gcode"],
         "s.svg"),
        ("svg with entities", lambda d: ["plan", _write(d / "e.svg", ENTITY_SVG), "-o", d / "out" / "x.gcode"],
         "entities"),
        ("empty drawing", lambda d: ["plan", _write(d / "e.svg", SVG.format(size='width="10mm" height="10mm"', body="")),
                                     "-o", d / "out" / "x.gcode"], "nothing to draw"),
        ("zero-size viewBox", lambda d: ["plan", _write(d / "z.svg", SVG.format(size='viewBox="0 0 0 0"', body=LINE)),
                                         "-o", d / "out" / "x.gcode"], "page"),
        ("absurd page", lambda d: ["plan", _write(d / "a.svg", SVG.format(size='width="1e9mm" height="5mm"', body=LINE)),
                                   "-o", d / "out" / "x.gcode"], "page"),
        ("template outside the work area", lambda d: [
            "plan", _write(d / "s.svg", SVG.format(size='width="10mm" height="10mm"', body=LINE)), "-o",
            d / "out" / "x.gcode", "--profile", _write(d / "p.toml", OUTSIDE_TEMPLATE)], "outside the work area"),
        ("malformed gcode", lambda d: ["simulate", _write(d / "g.gcode", "G1 X1 Y1 F100\nG99\n"), "-o",
                                       d / "out" / "x.png"], "G99"),
        ("send to a missing port", lambda d: ["send", _write(d / "g.gcode", "G0 X1\n"), "--port", "/dev/ttyNOPE9"],
         "/dev/ttyNOPE9"),
        ("send to a device that is no serial port", lambda d: ["send", _write(d / "g.gcode", "G0 X1\n"), "--port",
                                                              "/dev/null"], "cannot use /dev/null as a serial port"),
        ("send to a folder", lambda d: ["send", _write(d / "g.gcode", "G0 X1\n"), "--port", d], "Is a directory"),
    ],
)
def test_bad_input_gets_one_error_line_exit_2_and_no_output(run_cli, tmp_path, case, args_fn, message):
    args = args_fn(tmp_path)
    before = set(os.listdir(tmp_path))
    proc = run_cli(*args)
    assert proc.returncode == 2, (case, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("strokebot: error:") and message in lines[0]
    assert "Traceback" not in proc.stderr
    assert set(os.listdir(tmp_path)) == before


SVG = '<svg xmlns="http://www.w3.org/2000/svg" {size}>{body}</svg>'
LINE = '<line x1="1" y1="1" x2="4" y2="3" stroke="black"/>'
ENTITY_SVG = ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
              '<svg xmlns="http://www.w3.org/2000/svg" width="10mm" height="10mm"><text>&b;</text></svg>')
OUTSIDE_TEMPLATE = (Path(__file__).parent.parent / "examples" / "profiles" / "custom_grbl_laser.toml").read_text().replace(
    'header = ["G94", "M5"]', 'header = ["G0 X999 Y0"]')


def _write(path, text):
    path.write_text(text)
    return path


def test_stroke_width_in_pixels_overrides_the_pen(run_cli, small_photo, tmp_path):
    proc = run_cli("fit", small_photo, "-o", tmp_path, "--strokes", "30", "--iters", "3", "--size", "32",
                   "--stroke-width-px", "2.5", "--primitive", "catmull-rom", "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "fit.json").read_text())
    assert report["pen_width_px"] == 2.5 and report["primitive"] == "catmull-rom"


@pytest.mark.parametrize("args, words", [
    (["send", "x.gcode", "--port", "sim", "--baud", "0"], "0 is not a serial rate"),
    (["send", "x.gcode", "--port", "sim", "--baud", "12345"], "12345 is not a serial rate"),
    (["fit", "x.png", "-o", "out", "--seed", "-1"], "--seed"),
    (["fit", "x.png", "-o", "out", "--seed", str(2**32)], "--seed"),
])
def test_numbers_out_of_range_are_refused_with_the_reason(run_cli, tmp_path, args, words):
    done = run_cli(*args)
    assert done.returncode == 2 and words in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_simulate_says_what_the_plotters_refusal_means_in_words(run_cli, tmp_path):
    program = tmp_path / "d.gcode"
    program.write_text("G21\nG90\nG1 X10 Y10\n")  # no feed rate yet: GRBL's error:22
    result = run_cli("simulate", program, "-o", tmp_path / "sim.png")
    assert result.returncode == 2 and not (tmp_path / "sim.png").exists()
    assert "line 3 (G1 X10 Y10): error:22 (Feed rate has not yet been set or is undefined.)" in result.stderr
