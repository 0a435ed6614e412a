"""`strokebot plan` on a real-world SVG: Inkscape layers, nested transforms, inches, a viewBox, curves."""

from __future__ import annotations

import json
from pathlib import Path

from gcode import Move, read_program

LOGO = Path(__file__).parent / "data" / "inkscape_logo.svg"  # 11 x 5 in, two labelled layers, a hostile label


def plan(run_cli, tmp_path: Path, *options: str) -> tuple[list[str], dict]:
    out, stats = tmp_path / "logo.gcode", tmp_path / "stats.json"
    proc = run_cli("plan", LOGO, "-o", out, "--stats", stats, *options)
    assert proc.returncode == 0, proc.stderr
    assert "pen lifts" in proc.stdout
    return out.read_text().splitlines(), json.loads(stats.read_text())


def drawn_extent(program: list[str]) -> tuple[float, float]:
    points = [p for m in read_program(program) if isinstance(m, Move) and m.pen_down for p in (m.start, m.end)]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return max(xs) - min(xs), max(ys) - min(ys)


def test_an_inkscape_file_becomes_one_layer_per_pen_with_a_named_pen_change(run_cli, tmp_path):
    program, stats = plan(run_cli, tmp_path)
    assert [line for line in program if line.startswith("M0")] == ["M0 (change to pen red_ _danger__G0 X-99)"]
    assert set(stats) == {"draw_mm", "travel_mm", "pen_lifts", "est_seconds", "lines"}
    assert stats["pen_lifts"] == 6 and stats["lines"] == len(program)
    width, height = drawn_extent(program)
    assert width > height  # landscape stays landscape by default


def test_arcs_and_rotate_auto_draw_it_larger_the_long_way_up_with_fewer_lines(run_cli, tmp_path):
    plain, plain_stats = plan(run_cli, tmp_path)
    program, stats = plan(run_cli, tmp_path, "--arcs", "--rotate", "auto")
    assert any(line.startswith(("G2 ", "G3 ")) for line in program)
    assert len(program) < len(plain) / 2
    width, height = drawn_extent(program)
    assert height > width
    assert stats["draw_mm"] > 1.3 * plain_stats["draw_mm"]  # turned, the same drawing is scaled up
