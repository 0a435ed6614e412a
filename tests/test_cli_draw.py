"""End to end: `strokebot draw` fits, plans and streams a small photo to the simulated plotter on a real pty."""

import json
import os
import re

import numpy as np
import pytest
from pygcode import Line

from calibration import default_profile
from conftest import gray
from robot.host.journal import Journal, program_header, read_journal
from strokebot.cli import main
from strokebot.jobs import job_summary

OUTPUTS = ["strokes.svg", "render.png", "fit.json", "drawing.gcode", "drawing.gcode.journal", "sim.png", "preview.png",
           "report.json"]
TINY = ["--size", "16", "--strokes", "20", "--iters", "2", "--quiet"]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory, small_photo):
    import subprocess, sys

    out = tmp_path_factory.mktemp("draw") / "out"
    proc = subprocess.run(
        [sys.executable, "-c", "from strokebot.cli import main; main()", "draw", str(small_photo), "-o", str(out),
         "--strokes", "400", "--iters", "40", "--size", "64", "--seed", "3", "--quiet"],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_draw_writes_every_output(drawn):
    out, _ = drawn
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)


def test_every_gcode_line_was_acknowledged_ok_by_the_plotter(drawn):
    out, _ = drawn
    report = json.loads((out / "report.json").read_text())
    lines = [l for l in (out / "drawing.gcode").read_text().splitlines() if l.strip()]
    stream = report["stream"]
    assert stream["port"] == "sim"
    assert stream["errors"] == [] and stream["alarm"] is None
    assert stream["lines_total"] == len(lines) == stream["lines_acknowledged"] + stream["lines_skipped"]
    assert stream["lines_sent"] == stream["lines_acknowledged"]  # comments are skipped, not sent


def test_no_coordinate_leaves_the_work_area_and_pygcode_parses_every_line(drawn):
    out, _ = drawn
    area = default_profile().work_area
    xs, ys = [], []
    for text in (out / "drawing.gcode").read_text().splitlines():
        line = Line(text)  # raises on anything pygcode cannot parse
        for gcode in line.block.gcodes:
            params = gcode.get_param_dict()
            if "X" in params:
                xs.append(float(params["X"]))
            if "Y" in params:
                ys.append(float(params["Y"]))
    assert len(xs) > 400 and len(ys) > 400
    assert 0 <= min(xs) and max(xs) <= area.width_mm
    assert 0 <= min(ys) and max(ys) <= area.height_mm


def test_travel_is_g0_and_drawing_is_g1(drawn):
    out, _ = drawn
    pen_down = False
    for text in (out / "drawing.gcode").read_text().splitlines():
        if text.startswith("M3"):
            pen_down = True
        elif text.startswith("M5"):
            pen_down = False
        elif re.match(r"G[01] ", text):
            assert text.startswith("G1" if pen_down else "G0"), text


def test_the_drawing_is_closer_to_the_photo_than_a_blank_page(drawn, small_photo):
    out, _ = drawn
    fit = json.loads((out / "fit.json").read_text())
    width, height = fit["size_px"]
    target = gray(small_photo, (width, height))
    drawing = gray(out / "sim.png", (width, height))
    blank = np.ones_like(target)
    assert np.mean((drawing - target) ** 2) < 0.8 * np.mean((blank - target) ** 2)


def test_what_the_pen_drew_matches_what_the_optimiser_rendered(drawn):
    out, _ = drawn
    report = json.loads((out / "report.json").read_text())
    assert report["fidelity_ssim"] >= 0.9


def test_reports_hold_the_promised_numbers(drawn):
    out, proc = drawn
    fit = json.loads((out / "fit.json").read_text())
    for key in ("strokes", "iters", "seconds", "seconds_per_iter", "loss", "psnr", "ssim"):
        assert key in fit
    assert fit["strokes"] == 400 and fit["iters"] == 40
    plan = json.loads((out / "report.json").read_text())["plan"]
    for key in ("draw_mm", "travel_mm", "pen_lifts", "est_seconds", "lines"):
        assert plan[key] > 0
    assert "preview.png" in proc.stdout


def test_a_two_pen_drawing_changes_pens_and_comes_out_in_both_inks(run_cli, tmp_path):
    from PIL import Image

    from calibration import profile_to_toml

    profile = tmp_path / "two_pens.toml"
    profile.write_text(profile_to_toml(default_profile()) + '\n[[pens]]\nname = "red"\nwidth_mm = 0.8\ncolor = "#d01010"\n')
    picture = np.full((48, 48, 3), 255, np.uint8)
    picture[8:40, 4:22] = (20, 20, 20)  # black on the left
    picture[8:40, 26:44] = (210, 20, 20)  # red on the right
    Image.fromarray(picture).save(tmp_path / "two.png")

    out = tmp_path / "out"
    proc = run_cli("draw", tmp_path / "two.png", "-o", out, "--profile", profile, "--strokes", "150", "--iters", "40",
                   "--size", "48", "--quiet")
    assert proc.returncode == 0, proc.stderr
    program = (out / "drawing.gcode").read_text().splitlines()
    assert sum(1 for line in program if line.startswith("M0")) == 1  # one pen change
    assert "(pen black)" in program and "(pen red)" in program
    stream = json.loads((out / "report.json").read_text())["stream"]
    assert stream["lines_acknowledged"] + stream["lines_skipped"] == stream["lines_total"] and not stream["errors"]

    drawing = np.asarray(Image.open(out / "sim.png").convert("RGB")).astype(int)
    half = drawing.shape[1] // 2
    red = (drawing[..., 0] > 120) & (drawing[..., 1] < 80) & (drawing[..., 2] < 80)
    black = drawing.max(axis=-1) < 60
    assert red[:, half:].sum() > 5 * max(1, red[:, :half].sum())  # red ink where the picture is red
    assert black[:, :half].sum() > 5 * max(1, black[:, half:].sum())  # black ink where it is black


def test_the_stream_is_journaled_like_send_s(drawn):
    out, _ = drawn
    state = read_journal(out / "drawing.gcode.journal")
    lines = (out / "drawing.gcode").read_text().splitlines()
    assert state.header.program == str(out / "drawing.gcode") and state.header.profile is None
    assert state.acknowledged == set(range(1, len(lines) + 1))


def run(capsys, args: list[object]) -> tuple[int, list[str]]:
    """Run `strokebot ARGS` in this process: its exit status and its lines on stderr."""
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code, capsys.readouterr().err.strip().splitlines()


def test_a_port_that_is_no_serial_port_fails_at_once_before_the_fit_with_nothing_written(capsys, tmp_path,
                                                                                          small_photo, monkeypatch):
    from strokebot import fitting

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran before the port was checked")

    monkeypatch.setattr(fitting, "fit_image", no_fit)
    code, err = run(capsys, ["draw", small_photo, "-o", tmp_path / "out", "--port", "/dev/null", "--iters", "100000",
                             "--quiet"])
    assert code == 2 and err == ["strokebot: error: cannot use /dev/null as a serial port: not a terminal device"]
    assert os.listdir(tmp_path) == []


def test_a_stream_that_stops_part_way_says_how_to_go_on_and_send_resumes_it(capsys, tmp_path, small_photo):
    out = tmp_path / "out"
    port = "sim://?disconnect_after_lines=30"
    code, err = run(capsys, ["draw", small_photo, "-o", out, "--port", port, *TINY])
    assert code == 2 and len(err) == 1, err
    journal = out / "drawing.gcode.journal"
    assert "lost the connection" in err[0] and "lines acknowledged" in err[0]
    assert err[0].endswith(f"go on with: strokebot send --resume {journal} --port {port}"), err
    code, err = run(capsys, ["send", "--resume", journal, "--port", "sim", "--quiet"])
    assert code == 0, err
    lines = (out / "drawing.gcode").read_text().splitlines()
    assert read_journal(journal).first_unacknowledged() == len(lines) + 1


def test_resume_is_suggested_only_for_a_journal_with_acknowledged_lines_on_a_real_port(tmp_path):
    program = tmp_path / "drawing.gcode"
    lines = ["G21", "G90", "G0 X10 Y10", "M3 S1000", "G1 X20 Y10 F3000", "M5"]
    program.write_text("\n".join(lines) + "\n")
    journal = Journal.create(tmp_path / "drawing.gcode.journal", program_header(program, None))
    profile = default_profile()
    assert job_summary(lines, journal, profile, "/dev/ttyUSB0").endswith(
        f"nothing to resume: send it again with: strokebot send {program} --port /dev/ttyUSB0")
    with journal:
        journal.acknowledge(1)
    assert job_summary(lines, journal, profile, "/dev/ttyUSB0").endswith(
        f"go on with: strokebot send --resume {journal.path} --port /dev/ttyUSB0")
    assert job_summary(lines, journal, profile, "sim").endswith("the simulated plotter is gone with this run: "
                                                                "nothing to resume on it")



def test_each_drawn_stroke_gets_the_pen_of_its_layer_in_a_marlin_program_too():
    """Marlin's pen change is "M0 change to pen red" (its text on the display), not GRBL's "M0 (comment)"."""
    from pathlib import Path

    from calibration import load_profile
    from strokebot.jobs import DrawnStrokes
    from strokebot.pipeline import stroke_pens

    profile = load_profile(Path(__file__).resolve().parent.parent / "examples" / "profiles" / "a4_marlin_servo.toml")
    program = ["; pen black", "G0 X1 Y1", "M280 P0 S20", "G1 X2 Y2 F3000", "M280 P0 S50",
               "M0 change to pen red", "; pen red", "G0 X3 Y3", "M280 P0 S20", "G1 X4 Y4", "M280 P0 S50"]
    drawn = DrawnStrokes(strokes=[[(1.0, 1.0), (2.0, 2.0)], [(3.0, 3.0), (4.0, 4.0)]], sections=[0, 1])
    assert stroke_pens(drawn, program, profile) == [0, 1]
