"""The machine commands start without torch: `--help`, plan, simulate, send, ports and profile never import it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

# run the CLI as the user does, then say (the last line of stderr, at exit) which heavy modules were loaded
PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps({m: m in sys.modules for m in ("torch", "numba", "strokebot.fitting")}), file=sys.stderr))
from strokebot.cli import main
main(sys.argv[1:])
"""

TINY_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="20mm" height="20mm" viewBox="0 0 20 20">'
            '<path d="M 2 2 L 18 2 L 18 18" stroke="black" fill="none"/></svg>')


def run_probe(*args: object) -> tuple[subprocess.CompletedProcess, dict[str, bool]]:
    """Run `strokebot ARGS...` in a fresh interpreter; returns it and which of torch, numba and the fit half it imported."""
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    return done, json.loads(done.stderr.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> Path:
    """A tiny SVG planned to G-code by `strokebot plan`, checked to have imported no torch."""
    folder = tmp_path_factory.mktemp("startup")
    (folder / "tiny.svg").write_text(TINY_SVG)
    done, loaded = run_probe("plan", folder / "tiny.svg", "-o", folder / "tiny.gcode")
    assert done.returncode == 0, done.stderr
    assert not loaded["torch"]
    return folder / "tiny.gcode"


@pytest.mark.parametrize("args", [["--help"], ["plan", "--help"], ["send", "--help"], ["ports"],
                                  ["profile", "show"]], ids=" ".join)
def test_machine_command_imports_no_torch(args):
    done, loaded = run_probe(*args)
    assert done.returncode == 0, done.stderr
    assert not loaded["torch"], f"strokebot {' '.join(args)} imported torch"


def test_help_lists_fit_without_loading_it():
    done, loaded = run_probe("--help")
    assert "fit" in done.stdout and "draw" in done.stdout
    assert not loaded["strokebot.fitting"]


def test_plan_imports_no_torch(planned):
    assert "G" in planned.read_text()


def test_simulate_imports_no_torch(planned, tmp_path):
    done, loaded = run_probe("simulate", planned, "-o", tmp_path / "sim.png")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sim.png").stat().st_size > 0
    assert not loaded["torch"]


def test_fit_help_still_lists_its_options():
    done, loaded = run_probe("fit", "--help")
    assert done.returncode == 0, done.stderr
    assert not loaded["torch"]  # its options need names only (strokeopt.names, strokeopt.strokes)
    for option in ("--primitive", "--vgg-layers", "relu1_2,relu2_2,relu3_3,relu4_3"):
        assert option in done.stdout
