"""The painters that ship with strokebot: found by name, small, documented, safe to load, and usable."""

import json

import numpy as np
import pytest
import torch

from strokeopt.optimise import FitConfig, fit_strokes
from strokeopt.painters.actions import ACTION_FIELDS, random_actions
from strokeopt.painters.library import SHIPPED_DIR, load_named_painter, shipped_painters
from strokeopt.painters.mypaint import DEFAULT_BRUSH
from strokeopt.painters.painter_file import PainterFileError
from strokeopt.painters.renderer import PainterRenderer

NAMES = ("neural:vae", "neural:gan", "neural:guided")


def test_the_three_kinds_ship_and_load_by_name():
    assert set(NAMES) <= set(shipped_painters())
    for name in NAMES:
        painter, metadata = load_named_painter(name)
        assert metadata["kind"] == name.split(":")[1] == painter.kind
        assert metadata["brush"] == DEFAULT_BRUSH
        assert metadata["canvas_px"] == painter.canvas_px == 64
        assert metadata["action_layout"] == list(ACTION_FIELDS)
        assert len(metadata["dataset_manifest_sha256"]) == 64
        assert metadata["command"].startswith("strokebot painter train --kind ")


def test_each_file_is_at_most_ten_megabytes():
    for name in NAMES:
        assert (SHIPPED_DIR / f"{name.split(':')[1]}.pt").stat().st_size <= 10 * 1024 * 1024


@pytest.mark.parametrize("name", NAMES)
def test_shipped_painters_paint_strokes_on_white(name):
    painter, _ = load_named_painter(name)
    actions = torch.tensor(random_actions(4, np.random.default_rng(0)), dtype=torch.float32)
    with torch.no_grad():
        image = painter(actions)
    assert image.shape == (4, 3, 64, 64)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert float(image.mean()) > 0.6  # mostly white paper


@pytest.mark.parametrize("name", NAMES)
def test_fitting_through_each_shipped_painter_lowers_the_loss(name):
    yy, xx = np.mgrid[0:24, 0:24]
    target = np.where((np.abs(yy - 12) < 3) & (np.abs(xx - 12) < 9), 0.15, 1.0)
    painter, _ = load_named_painter(name)
    config = FitConfig(strokes=5, primitive="quadratic", iters=25, stroke_width_px=3.0, loss="mse", progress=False)
    result = fit_strokes(target, config, renderer=PainterRenderer(painter, 24, 24))
    assert result.losses[-1] < 0.8 * result.losses[0]


def test_an_unknown_name_says_which_painters_exist():
    with pytest.raises(PainterFileError, match="neural:guided"):
        load_named_painter("neural:nope")


def test_painter_list_names_every_shipped_painter_and_its_command(run_cli):
    done = run_cli("painter", "list")
    assert done.returncode == 0, done.stderr
    for name in NAMES:
        assert name in done.stdout
    assert "strokebot painter train" in done.stdout


def test_painter_eval_prints_the_measures_as_json(run_cli, tmp_path):
    from strokeopt.painters.dataset import make_dataset

    make_dataset(tmp_path / "held", strokes=40, seed=12345, progress=False, workers=1)
    done = run_cli("painter", "eval", "neural:guided", "--data", tmp_path / "held", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    scores = json.loads(done.stdout)
    assert {"mse", "iou", "texture_ratio", "seconds_per_1000"} <= set(scores)
    assert 0 <= scores["mse"] < 0.01 and 0.5 < scores["iou"] <= 1 and scores["seconds_per_1000"] > 0


@pytest.mark.parametrize("spec", ["neural:nope", "missing.pt"])
def test_painter_eval_of_an_unknown_painter_is_one_error_line(run_cli, tmp_path, spec):
    done = run_cli("painter", "eval", spec, "--data", tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("strokebot: error:") and len(done.stderr.strip().splitlines()) == 1


def test_fit_with_a_neural_renderer_from_the_command_line(run_cli, small_photo, tmp_path):
    out = tmp_path / "out"
    done = run_cli("fit", small_photo, "-o", out, "--renderer", "neural:guided", "--primitive", "quadratic",
                   "--paint", "--strokes", "60", "--iters", "10", "--size", "32", "--quiet")
    assert done.returncode == 0, done.stderr
    assert (out / "render.png").is_file() and (out / "strokes.svg").is_file()


def test_fit_with_a_neural_renderer_refuses_cubics_before_fitting(run_cli, small_photo, tmp_path):
    done = run_cli("fit", small_photo, "-o", tmp_path / "out", "--renderer", "neural:guided", "--primitive", "cubic")
    assert done.returncode == 2 and "quadratic" in done.stderr
    assert not (tmp_path / "out").exists()
