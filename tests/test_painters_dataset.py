"""Stroke datasets: shards painted by MyPaint, reproducible per shard, resumable, checked when read."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from strokeopt.painters import dataset as stroke_data
from strokeopt.painters.actions import ACTION_FIELDS
from strokeopt.painters.dataset import DatasetError, load_dataset, make_dataset, read_manifest, shard_actions
from strokeopt.painters.mypaint import DEFAULT_BRUSH, Brush, BrushError, MyPaintMissing, MyPaintPainter, load_library
from strokeopt.painters.storage import file_sha256

try:
    load_library()
    Brush.load(DEFAULT_BRUSH)
except MyPaintMissing as missing:
    if os.environ.get("CI"):
        pytest.fail(f"MyPaint must be installed in CI: {missing}", pytrace=False)
    pytest.skip(str(missing), allow_module_level=True)

SMALL = {"canvas_px": 16, "shard_size": 10, "progress": False}  # 16 x 16 px, 10 strokes a shard


def make(folder: Path, strokes: int = 20, **settings) -> stroke_data.Manifest:
    return make_dataset(folder, strokes, **{**SMALL, **settings})


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> stroke_data.StrokeData:
    """25 strokes in three shards (10, 10, 5), painted in this process."""
    folder = tmp_path_factory.mktemp("reference")
    make(folder, 25, workers=1)
    return load_dataset(folder)


def test_same_seed_same_strokes_with_one_or_two_workers(tmp_path, reference):
    make(tmp_path / "two", 25, workers=2)
    again = load_dataset(tmp_path / "two")
    assert np.array_equal(again.actions, reference.actions)
    assert np.array_equal(again.images, reference.images)
    assert np.array_equal(again.alpha, reference.alpha)


def test_two_workers_work_when_spawned(tmp_path, reference, monkeypatch):
    import multiprocessing

    monkeypatch.setattr(stroke_data, "_pool_context", lambda: multiprocessing.get_context("spawn"))
    make(tmp_path / "spawned", 25, workers=2)
    assert np.array_equal(load_dataset(tmp_path / "spawned").images, reference.images)


def test_each_shard_is_its_own_seeded_draw_painted_by_mypaint(reference):
    second = shard_actions(0, 1, 10)
    assert np.array_equal(reference.actions[10:20], second)
    with MyPaintPainter(Brush.load(DEFAULT_BRUSH), 16) as painter:
        images, alpha = painter.paint(second)
    assert np.array_equal(reference.images[10:20], images)
    assert np.array_equal(reference.alpha[10:20], alpha)
    assert reference.actions.dtype == np.float32 and reference.images.shape == (25, 16, 16, 3)
    assert reference.alpha.shape == (25, 16, 16) and reference.alpha.max() > 0


def test_engine_noise_is_reproducible_whatever_the_worker_count(tmp_path):
    make(tmp_path / "one", 20, workers=1, engine_noise=True)
    make(tmp_path / "two", 20, workers=2, engine_noise=True)
    assert np.array_equal(load_dataset(tmp_path / "one").images, load_dataset(tmp_path / "two").images)
    assert read_manifest(tmp_path / "one").engine_noise is True


def test_manifest_records_the_settings_and_every_shard_digest(tmp_path):
    manifest = make(tmp_path, 25, seed=3, workers=1)
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["format"] == "strokebot-stroke-data" and data["version"] == 1 and data["complete"] is True
    assert (data["brush"], data["canvas_px"], data["seed"], data["strokes"], data["shard_size"]) == (
        DEFAULT_BRUSH, 16, 3, 25, 10)
    assert data["engine_noise"] is False and data["action_fields"] == list(ACTION_FIELDS)
    assert data["library"].startswith("libmypaint")
    assert [(s["file"], s["count"]) for s in data["shards"]] == [
        ("shard-00000.npz", 10), ("shard-00001.npz", 10), ("shard-00002.npz", 5)]
    for shard in data["shards"]:
        assert shard["sha256"] == file_sha256(tmp_path / shard["file"])
    assert read_manifest(tmp_path) == manifest
    assert load_dataset(tmp_path).manifest_sha256 == file_sha256(tmp_path / "manifest.json")
    assert listing(tmp_path) == ["manifest.json", "shard-00000.npz", "shard-00001.npz", "shard-00002.npz"]


def test_resume_remakes_only_the_deleted_shard(tmp_path, reference):
    make(tmp_path, 25, workers=1)
    (tmp_path / "shard-00001.npz").unlink()
    painted = []
    make(tmp_path, 25, workers=2, on_shard=lambda shard: painted.append(shard.index))
    assert painted == [1]
    assert np.array_equal(load_dataset(tmp_path).images, reference.images)


def test_a_changed_shard_is_remade_on_resume(tmp_path, reference):
    make(tmp_path, 25, workers=1)
    path = tmp_path / "shard-00002.npz"
    path.write_bytes(path.read_bytes()[:100])
    painted = []
    make(tmp_path, 25, workers=1, on_shard=lambda shard: painted.append(shard.index))
    assert painted == [2]
    assert np.array_equal(load_dataset(tmp_path).alpha, reference.alpha)


def stop_after_first(shard):
    raise KeyboardInterrupt


def test_an_interrupted_run_lists_finished_shards_and_resumes(tmp_path, reference):
    with pytest.raises(KeyboardInterrupt):
        make(tmp_path, 25, workers=1, on_shard=stop_after_first)
    assert listing(tmp_path) == ["manifest.json", "shard-00000.npz"]
    partial = load_dataset(tmp_path)
    assert partial.complete is False and len(partial) == 10

    make(tmp_path, 25, workers=2)
    done = load_dataset(tmp_path)
    assert done.complete and np.array_equal(done.images, reference.images)


def test_an_interrupted_pool_stops_and_lists_every_shard_it_wrote(tmp_path, reference):
    with pytest.raises(KeyboardInterrupt):
        make(tmp_path, 25, workers=2, on_shard=stop_after_first)
    manifest = read_manifest(tmp_path)
    assert listing(tmp_path) == ["manifest.json"] + [shard.file for shard in manifest.shards]
    assert all(file_sha256(tmp_path / shard.file) == shard.sha256 for shard in manifest.shards)
    make(tmp_path, 25, workers=2)
    assert np.array_equal(load_dataset(tmp_path).images, reference.images)


def test_a_failed_shard_write_leaves_no_partial_file(tmp_path, monkeypatch):
    real_save = np.savez_compressed

    def disk_full_on_second_shard(file, **arrays):
        if (tmp_path / "shard-00000.npz").exists():
            file.write(b"half a shard")
            raise OSError(28, "No space left on device")
        real_save(file, **arrays)

    monkeypatch.setattr(np, "savez_compressed", disk_full_on_second_shard)
    with pytest.raises(OSError, match="No space left"):
        make(tmp_path, 25, workers=1)
    assert listing(tmp_path) == ["manifest.json", "shard-00000.npz"]
    assert [shard.file for shard in read_manifest(tmp_path).shards] == ["shard-00000.npz"]


def test_more_strokes_add_shards_to_a_finished_dataset(tmp_path, reference):
    make(tmp_path, 15, workers=1)
    painted = []
    make(tmp_path, 25, workers=1, on_shard=lambda shard: painted.append((shard.index, shard.count)))
    assert painted == [(1, 10), (2, 5)]  # shard 1 held 5 strokes, now 10
    assert np.array_equal(load_dataset(tmp_path).images, reference.images)


def test_fewer_strokes_than_the_folder_holds_is_an_error(tmp_path):
    make(tmp_path, 20, workers=1)
    with pytest.raises(DatasetError, match="20 strokes"):
        make(tmp_path, 10)


@pytest.mark.parametrize("setting", [{"seed": 1}, {"canvas_px": 32}, {"shard_size": 5}, {"engine_noise": True},
                                     {"brush": "classic/pen"}])
def test_other_settings_on_an_existing_dataset_are_refused(tmp_path, setting):
    make(tmp_path, 10, workers=1)
    before = {name: file_sha256(tmp_path / name) for name in listing(tmp_path)}
    with pytest.raises(DatasetError, match="pick another folder"):
        make(tmp_path, 10, **setting)
    assert {name: file_sha256(tmp_path / name) for name in listing(tmp_path)} == before


def test_a_folder_holding_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        make(tmp_path, 10)
    assert listing(tmp_path) == ["notes.txt"]


@pytest.mark.parametrize("setting, words", [({"strokes": 0}, "strokes"), ({"canvas_px": 8}, "canvas size"),
                                            ({"shard_size": 0}, "shard size"), ({"seed": -1}, "seed"),
                                            ({"workers": 0}, "workers")])
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, setting, words):
    with pytest.raises(DatasetError, match=words):
        make_dataset(tmp_path / "out", **{"strokes": 10, **SMALL, **setting})
    assert not (tmp_path / "out").exists()


def test_an_unknown_brush_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(BrushError, match="no-such-brush"):
        make(tmp_path / "out", brush="no-such-brush")
    assert not (tmp_path / "out").exists()


def test_missing_mypaint_is_reported_before_anything_is_written(tmp_path, monkeypatch):
    def missing():
        raise MyPaintMissing("libmypaint is not installed")

    monkeypatch.setattr(stroke_data, "load_library", missing)
    with pytest.raises(MyPaintMissing):
        make(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_truncated_shard_is_named_when_read(tmp_path):
    make(tmp_path, 20, workers=1)
    path = tmp_path / "shard-00001.npz"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(DatasetError, match="shard-00001.npz is damaged"):
        load_dataset(tmp_path)


def test_a_missing_shard_is_named_when_read(tmp_path):
    make(tmp_path, 20, workers=1)
    (tmp_path / "shard-00000.npz").unlink()
    with pytest.raises(DatasetError, match="shard-00000.npz is missing"):
        load_dataset(tmp_path)


def test_a_foreign_file_with_a_matching_digest_is_named_when_read(tmp_path):
    make(tmp_path, 10, workers=1)
    path = tmp_path / "shard-00000.npz"
    np.savez_compressed(path, actions=np.full((10, 12), 2.0, np.float32),
                        images=np.zeros((10, 16, 16, 3), np.uint8), alpha=np.zeros((10, 16, 16), np.uint8))
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["shards"][0]["sha256"] = file_sha256(path)
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"shard-00000.npz: action 0: pressure_start = 2 is outside"):
        load_dataset(tmp_path)


def test_a_folder_without_a_manifest_is_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError, match="manifest.json is missing"):
        load_dataset(tmp_path)


def test_limit_reads_only_the_first_strokes(reference, tmp_path):
    make(tmp_path, 25, workers=1)
    (tmp_path / "shard-00002.npz").unlink()  # not needed for the first 15
    first = load_dataset(tmp_path, limit=15)
    assert len(first) == 15 and np.array_equal(first.images, reference.images[:15])


def test_cli_dataset_paints_and_summarises(run_cli, tmp_path, reference):
    done = run_cli("painter", "dataset", "-o", tmp_path / "data", "--strokes", 25, "--size", 16,
                   "--shard-size", 10, "--workers", 2, "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("25 strokes in 3 shards (25 painted now) in ")
    assert "strokes/s" in done.stdout and str(tmp_path / "data") in done.stdout
    assert np.array_equal(load_dataset(tmp_path / "data").images, reference.images)


@pytest.mark.parametrize("args", [
    ["--strokes", 0], ["--strokes", 10, "--brush", "no-such-brush"], ["--strokes", 10, "--size", 8],
])
def test_cli_dataset_bad_inputs_are_one_line_and_write_nothing(run_cli, tmp_path, args):
    done = run_cli("painter", "dataset", "-o", tmp_path / "data", *args)
    assert done.returncode == 2
    assert done.stderr.startswith("strokebot: error:") and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "data").exists()


def test_cli_dataset_refuses_a_folder_holding_other_files(run_cli, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    done = run_cli("painter", "dataset", "-o", tmp_path, "--strokes", 10)
    assert done.returncode == 2 and done.stderr.startswith("strokebot: error:") and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and listing(tmp_path) == ["notes.txt"]


def test_cli_brushes_lists_the_installed_brushes(run_cli):
    done = run_cli("painter", "brushes")
    assert done.returncode == 0 and DEFAULT_BRUSH in done.stdout.splitlines()
