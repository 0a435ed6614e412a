"""Learned painters (VAE, GAN), their training loop and their file: what each promises, on tiny synthetic strokes."""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from strokeopt.painters.actions import ACTION_FIELDS, bezier_samples, radius_px
from strokeopt.painters.base import KINDS
from strokeopt.painters.painter_file import PainterFileError, load_painter, save_painter
from strokeopt.painters.train import (
    CheckpointError, TrainingError, split_validation, train_painter, validation_mse,
)
from strokeopt.painters.vae import PainterConfigError

LEARNED = ["vae", "gan"]
CANVAS = 16


def synthetic_strokes(count: int, canvas_px: int = CANVAS, seed: int = 0) -> SimpleNamespace:
    """Stroke data like a data set's: round-brush Béziers whose darkness follows the pressure, on white."""
    rng = np.random.default_rng(seed)
    actions = rng.random((count, len(ACTION_FIELDS))).astype(np.float32)
    points = bezier_samples(actions.astype(np.float64), canvas_px, 16)
    centres = np.arange(canvas_px) + 0.5
    pixels = np.stack(np.meshgrid(centres, centres, indexing="xy"), -1).reshape(-1, 2)
    distance = np.sqrt(((pixels[None, :, None] - points[:, None]) ** 2).sum(-1)).min(-1)
    distance = distance.reshape(count, canvas_px, canvas_px)
    radius = radius_px(actions[:, 2], canvas_px)[:, None, None]
    coverage = np.clip(radius - distance + 0.5, 0, 1) * (0.3 + 0.7 * actions[:, :2].mean(1))[:, None, None]
    image = 1 - coverage[..., None] * (1 - actions[:, None, None, 3:6])
    return SimpleNamespace(actions=actions, images=(image * 255 + 0.5).astype(np.uint8),
                           alpha=(coverage * 255 + 0.5).astype(np.uint8))


def weights_digest(painter: torch.nn.Module) -> str:
    """SHA-256 of every tensor of a state dict, in key order: equal digests, bit-identical weights."""
    digest = hashlib.sha256()
    for key, value in sorted(painter.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def strokes() -> SimpleNamespace:
    return synthetic_strokes(240)


def quick(data, kind: str, tmp_path: Path, **options):
    """A few steps of training with small batches and no progress bar, into tmp_path."""
    settings = {"steps": 6, "batch": 12, "progress": False, "device": "cpu", "checkpoint_every": 0,
                "sample_every": 0, **options}
    return train_painter(data, kind, tmp_path / f"{kind}.pt", **settings)


@pytest.mark.parametrize("kind", LEARNED)
def test_painting_is_rgb_on_white_and_differentiable_in_the_actions(kind):
    painter = KINDS[kind](canvas_px=CANVAS)
    actions = torch.rand(7, 12, requires_grad=True)
    image = painter(actions)
    assert image.shape == (7, 3, CANVAS, CANVAS)
    assert 0.0 <= float(image.detach().min()) and float(image.detach().max()) <= 1.0
    (1.0 - image).mean().backward()
    assert torch.isfinite(actions.grad).all() and actions.grad.abs().sum() > 0
    coverage = painter.coverage(actions.detach()).detach()
    assert coverage.shape == (7, CANVAS, CANVAS) and 0.0 <= float(coverage.min()) and float(coverage.max()) <= 1.0


@pytest.mark.parametrize("kind", LEARNED)
@pytest.mark.parametrize("factored", [True, False])
def test_every_power_of_two_canvas_from_16_to_128_builds_and_others_are_refused(kind, factored):
    for canvas in (16, 32, 64, 128):
        assert KINDS[kind](canvas_px=canvas, factored=factored)(torch.rand(2, 12)).shape == (2, 3, canvas, canvas)
    with pytest.raises(PainterConfigError, match="power of two"):
        KINDS[kind](canvas_px=48)


@pytest.mark.parametrize(("kind", "steps"), [("vae", 600), ("gan", 80)])
def test_training_lowers_the_error_on_the_training_strokes(strokes, kind, steps, tmp_path):
    train, val = split_validation(len(strokes.actions), 0)
    actions, images = torch.as_tensor(strokes.actions[train]), torch.as_tensor(strokes.images[train])
    torch.manual_seed(0)  # the untrained painter that training starts from
    before = validation_mse(KINDS[kind](canvas_px=CANVAS), actions, images)
    result = quick(strokes, kind, tmp_path, steps=steps, batch=32, learning_rate=2e-3)
    assert validation_mse(result.painter, actions, images) < 0.75 * before
    assert result.steps == steps and result.val_count == len(val) and np.isfinite(result.val_mse)
    assert result.losses and all(np.isfinite(v) for v in result.losses.values())


@pytest.mark.parametrize("kind", LEARNED)
def test_the_same_seed_gives_bit_identical_weights_and_another_seed_does_not(strokes, kind, tmp_path):
    first = weights_digest(quick(strokes, kind, tmp_path / "a", seed=3).painter)
    again = weights_digest(quick(strokes, kind, tmp_path / "b", seed=3).painter)
    other = weights_digest(quick(strokes, kind, tmp_path / "c", seed=4).painter)
    assert first == again != other


@pytest.mark.parametrize("kind", LEARNED)
def test_a_run_resumed_after_a_crash_ends_with_the_weights_of_an_uninterrupted_run(strokes, kind, tmp_path,
                                                                                   monkeypatch):
    # 6 steps, checkpoints after 2 and 4, a crash in the third step: the resumed run redoes steps 2 to 5
    # (for the VAE, step 2 ends its VAE phase, with random codes and its own optimiser; 3 to 5 train the rest)
    whole = quick(strokes, kind, tmp_path / "whole", checkpoint_every=2)
    real_step = KINDS[kind].train_step
    calls = []

    def crash_in_the_third_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(KINDS[kind], "train_step", crash_in_the_third_step)
    with pytest.raises(RuntimeError, match="power cut"):
        quick(strokes, kind, tmp_path / "cut", checkpoint_every=2)
    monkeypatch.setattr(KINDS[kind], "train_step", real_step)
    assert not (tmp_path / "cut" / f"{kind}.pt").exists()  # no painter file from a failed run
    checkpoint = tmp_path / "cut" / f"{kind}.pt.ckpt"
    assert torch.load(checkpoint, weights_only=True)["step"] == 2
    resumed = quick(strokes, kind, tmp_path / "cut", resume=checkpoint, checkpoint_every=2)
    assert resumed.steps == 6
    assert weights_digest(resumed.painter) == weights_digest(whole.painter)


def test_resuming_refuses_a_checkpoint_of_another_kind_or_other_settings(strokes, tmp_path):
    done = quick(strokes, "vae", tmp_path, steps=2)
    with pytest.raises(CheckpointError, match="'vae' painter, not 'gan'"):
        quick(strokes, "gan", tmp_path, resume=done.checkpoint_path)
    with pytest.raises(CheckpointError, match="seed"):
        quick(strokes, "vae", tmp_path, resume=done.checkpoint_path, seed=9)
    with pytest.raises(CheckpointError, match="other strokes"):
        quick(synthetic_strokes(200), "vae", tmp_path, resume=done.checkpoint_path)
    with pytest.raises(CheckpointError, match="settings"):
        quick(strokes, "vae", tmp_path, resume=done.checkpoint_path, kind_config={"latent": 8})
    with pytest.raises(CheckpointError, match="not a strokebot training checkpoint"):
        quick(strokes, "vae", tmp_path, resume=done.out_path)


def test_a_time_limit_stops_training_and_the_file_records_the_steps_done(strokes, tmp_path):
    result = quick(strokes, "vae", tmp_path, steps=1_000_000, time_limit_s=0.5)
    assert result.stopped_by_time_limit and 0 < result.steps < 1_000_000
    _, meta = load_painter(result.out_path)
    assert meta["training"]["steps"] == result.steps and meta["training"]["stopped_by_time_limit"]


def test_sample_grids_show_real_strokes_above_painted_ones(strokes, tmp_path):
    result = quick(strokes, "vae", tmp_path, steps=4, sample_every=2, samples_dir=tmp_path / "samples")
    assert [p.name for p in result.samples] == ["vae_step0000002.png", "vae_step0000004.png"]
    grid = np.asarray(Image.open(result.samples[0]))
    tile = 4 * CANVAS + 2  # enlarged to 64 px, with a line around each tile
    assert grid.shape == (2 * tile, 8 * tile, 3)


def test_settings_that_cannot_train_are_refused_before_anything_is_written(strokes, tmp_path):
    with pytest.raises(TrainingError, match="unknown painter kind 'oil'"):
        quick(strokes, "oil", tmp_path)
    with pytest.raises(TrainingError, match="larger than the"):
        quick(strokes, "vae", tmp_path, batch=500)
    with pytest.raises(TrainingError, match="images must be uint8"):
        quick(SimpleNamespace(actions=strokes.actions, images=strokes.images / 255.0), "vae", tmp_path)
    with pytest.raises(TrainingError, match="do not fit"):
        quick(strokes, "gan", tmp_path, kind_config={"latent": 8})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", LEARNED)
def test_a_painter_file_paints_exactly_what_the_trained_painter_paints(strokes, kind, tmp_path):
    result = quick(strokes, kind, tmp_path, steps=2, command="strokebot painter train --kind " + kind,
                   brush="classic/bulk", dataset_manifest_sha256="ab" * 32)
    painter, meta = load_painter(result.out_path)
    actions = torch.rand(5, 12)
    with torch.no_grad():
        assert torch.equal(painter(actions), result.painter(actions))
    assert not painter.training and not any(p.requires_grad for p in painter.parameters())
    assert meta["format"] == "strokebot-painter" and meta["version"] == 1 and meta["kind"] == kind
    assert meta["action_layout"] == list(ACTION_FIELDS) and meta["canvas_px"] == CANVAS
    assert meta["brush"] == "classic/bulk" and meta["dataset_manifest_sha256"] == "ab" * 32
    assert meta["command"] == "strokebot painter train --kind " + kind
    assert meta["training"]["steps"] == 2 and meta["training"]["batch"] == 12 and "val_mse" in meta["training"]
    shipped = torch.load(result.out_path, weights_only=True)["state_dict"]
    left_out = {"gan": "critic.", "vae": "encoder."}[kind]
    assert shipped and not any(key.startswith(left_out) for key in shipped)
    assert load_painter(result.out_path.read_bytes())[1]["kind"] == kind


@pytest.mark.parametrize("kind", LEARNED)
def test_a_painter_file_of_the_default_64_px_painter_is_under_10_mb(kind, tmp_path):
    path = tmp_path / "p.pt"
    save_painter(path, KINDS[kind](canvas_px=64), brush="b", canvas_px=64, dataset_manifest_sha256="",
                 command="", training={})
    assert path.stat().st_size < 10_000_000


def _torch_bytes(contents) -> bytes:
    buffer = io.BytesIO()
    torch.save(contents, buffer)
    return buffer.getvalue()


def test_files_that_are_not_painter_files_are_refused_with_their_name(strokes, tmp_path):
    result = quick(strokes, "gan", tmp_path, steps=2)
    good = torch.load(result.out_path, weights_only=True)
    wrong_shape = {**good, "state_dict": {k: v[:1] if v.ndim else v for k, v in good["state_dict"].items()}}
    cases = {
        "garbage.pt": b"this is not a painter",
        "truncated.pt": result.out_path.read_bytes()[:2000],
        "pickle.pt": pickle.dumps(SimpleNamespace(format="strokebot-painter"), protocol=2),
        "foreign.pt": _torch_bytes({"model": torch.zeros(3)}),
        "list.pt": _torch_bytes([1, 2, 3]),
        "version.pt": _torch_bytes({**good, "version": 2}),
        "kind.pt": _torch_bytes({**good, "kind": "oil"}),
        "layout.pt": _torch_bytes({**good, "action_layout": list(reversed(ACTION_FIELDS))}),
        "missing.pt": _torch_bytes({k: v for k, v in good.items() if k != "state_dict"}),
        "weights.pt": _torch_bytes({**good, "state_dict": {"generator.nothing": torch.zeros(1)}}),
        "shape.pt": _torch_bytes(wrong_shape),
        "config.pt": _torch_bytes({**good, "config": {**good["config"], "colour_depth": 3}}),
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(PainterFileError, match=name):
            load_painter(path)
    with pytest.raises(PainterFileError, match="training checkpoint, not a painter file"):
        load_painter(result.checkpoint_path)
    with pytest.raises(PainterFileError, match="painter data"):
        load_painter(b"garbage")


@pytest.fixture(scope="module")
def stroke_folder(tmp_path_factory) -> Path:
    """A 16 px dataset of 60 strokes painted by MyPaint, as `strokebot painter dataset` makes them."""
    from strokeopt.painters.dataset import make_dataset
    from strokeopt.painters.mypaint import MyPaintMissing

    folder = tmp_path_factory.mktemp("strokes")
    try:
        make_dataset(folder, 60, canvas_px=CANVAS, shard_size=30, workers=1, progress=False)
    except MyPaintMissing as missing:
        pytest.skip(f"MyPaint paints the dataset: {missing}")
    return folder


def test_the_cli_trains_a_painter_file_that_records_its_data_and_command(stroke_folder, tmp_path, run_cli):
    from strokeopt.painters.storage import file_sha256

    out = tmp_path / "vae.pt"
    args = ["painter", "train", "--kind", "vae", "--data", str(stroke_folder), "-o", str(out), "--steps", "4",
            "--batch", "8", "--device", "cpu", "--samples", str(tmp_path / "samples"), "--quiet"]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("vae painter: 4 steps in ") and len(done.stdout.splitlines()) == 1
    painter, meta = load_painter(out)
    assert meta["command"] == "strokebot " + " ".join(args)
    assert meta["brush"] == "classic/bulk" and meta["canvas_px"] == CANVAS == painter.canvas_px
    assert meta["dataset_manifest_sha256"] == file_sha256(stroke_folder / "manifest.json")
    assert [p.name for p in (tmp_path / "samples").iterdir()] == ["vae_step0000004.png"]


def _cli_error(capsys, *args: str) -> str:
    """Run `strokebot ARGS` in this process; assert exit status 2 and one line on stderr; return that line."""
    from strokebot.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("strokebot: error: "), err
    return err


def test_cli_mistakes_end_in_one_line_exit_2_and_no_painter_file(stroke_folder, tmp_path, capsys):
    out = tmp_path / "p.pt"
    base = ["painter", "train", "--data", str(stroke_folder), "-o", str(out), "--steps", "2", "--batch", "8",
            "--device", "cpu", "--quiet"]
    assert "unknown painter kind 'oil'" in _cli_error(capsys, *base, "--kind", "oil")
    assert "--steps" in _cli_error(capsys, *base, "--kind", "vae", "--steps", "0")
    assert "manifest" in _cli_error(capsys, *base[:2], "--data", str(tmp_path), *base[4:], "--kind", "vae")
    gan = quick(synthetic_strokes(60), "gan", tmp_path / "other", steps=1, batch=8)
    assert "'gan' painter, not 'vae'" in _cli_error(capsys, *base, "--kind", "vae", "--resume",
                                                    str(gan.checkpoint_path))
    assert not out.exists()
