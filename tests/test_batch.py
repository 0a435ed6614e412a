"""`strokebot batch`: a folder of pictures fitted and planned, each into its own folder, resumable, on workers or Ray."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from calibration import load_profile
from strokebot import batch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "astronaut.png"
FIT = ("--size", "32", "--strokes", "50", "--iters", "10", "--seed", "3", "--device", "cpu", "--quiet")
NAMES = ("crop0", "crop1", "crop2")


def strokebot(*args: object) -> subprocess.CompletedProcess:
    """Run `strokebot ARGS...` as a user does, in a fresh interpreter."""
    return subprocess.run([sys.executable, "-c", "from strokebot.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=ROOT)


def make_pictures(folder: Path, names=NAMES) -> Path:
    """Tiny crops of the example photograph, one per name, each a different part of it."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.open(EXAMPLE).convert("RGB")
    half = photo.width // 2
    for i, name in enumerate(names):
        x, y = (i % 2) * half, (i // 2) * half
        photo.crop((x, y, x + half, y + half)).resize((32, 32)).save(folder / f"{name}.png")
    return folder


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    return make_pictures(tmp_path_factory.mktemp("batch") / "in")


@pytest.fixture(scope="module")
def batches(pictures) -> dict[int, Path]:
    """The pictures batched with 1 and with 2 local workers: workers -> output folder."""
    outs = {}
    for workers in (1, 2):
        out = pictures.parent / f"out{workers}"
        done = strokebot("batch", pictures, "-o", out, "--workers", workers, *FIT)
        assert done.returncode == 0, done.stderr
        assert "3 images fitted and planned" in done.stdout
        outs[workers] = out
    return outs


def svgs(out: Path, names=NAMES) -> dict[str, bytes]:
    return {name: (out / name / "strokes.svg").read_bytes() for name in names}


def test_each_picture_is_fitted_and_planned_into_its_own_folder(batches):
    for name in NAMES:
        folder = batches[1] / name
        assert sorted(p.name for p in folder.iterdir()) == sorted(batch.IMAGE_OUTPUTS)
        assert json.loads((folder / "done.json").read_text())["image"] == f"{name}.png"
        assert json.loads((folder / "plan.json").read_text())["pen_lifts"] > 0
        assert (folder / "drawing.gcode").read_text().count("\nG1") > 0


def test_the_same_seed_gives_the_same_strokes_with_one_or_two_workers(batches):
    assert svgs(batches[1]) == svgs(batches[2])
    assert len(set(svgs(batches[1]).values())) == len(NAMES)  # three pictures, three drawings


def test_a_second_run_skips_the_finished_pictures(batches):
    before = {name: (batches[1] / name / "strokes.svg").stat().st_mtime_ns for name in NAMES}
    done = strokebot("batch", batches[1].parent / "in", "-o", batches[1], "--workers", 2, *FIT)
    assert done.returncode == 0, done.stderr
    assert "3 skipped (finished)" in done.stdout
    assert before == {name: (batches[1] / name / "strokes.svg").stat().st_mtime_ns for name in NAMES}


def test_a_stopped_batch_goes_on_with_only_the_unfinished_pictures(batches, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(batches[2], out)
    (out / "crop1" / "done.json").unlink()  # stopped after writing some of crop1's files
    (out / "crop1" / "strokes.svg").unlink()
    kept = (out / "crop0" / "strokes.svg").stat().st_mtime_ns
    done = strokebot("batch", batches[2].parent / "in", "-o", out, "--workers", 1, *FIT)
    assert done.returncode == 0, done.stderr
    assert "1 image fitted and planned" in done.stdout and "2 skipped (finished)" in done.stdout
    assert svgs(out) == svgs(batches[2])
    assert (out / "crop1" / "done.json").is_file()
    assert (out / "crop0" / "strokes.svg").stat().st_mtime_ns == kept


def test_pictures_finished_with_other_settings_or_changed_since_are_redone(batches, tmp_path):
    from strokebot.fitting import FitOptions

    profile = load_profile(None)
    made = json.loads((batches[1] / "crop0" / "done.json").read_text())["settings"]
    images = batch.find_images(batches[1].parent / "in")
    assert not batch.plan_batch(images, batches[1], made).todo
    other = batch.batch_settings(profile, FitOptions(strokes=50, iters=10, size_px=32, seed=4, device="cpu"))
    plan = batch.plan_batch(images, batches[1], other)
    assert plan.todo == plan.changed and len(plan.todo) == len(NAMES) and not plan.finished

    moved = tmp_path / "in"
    shutil.copytree(batches[1].parent / "in", moved)
    Image.open(EXAMPLE).convert("RGB").resize((32, 32)).save(moved / "crop2.png")  # a new picture, same name
    plan = batch.plan_batch(batch.find_images(moved), batches[1], made)
    assert [job.name for job in plan.changed] == ["crop2.png"]


def test_a_batch_stopped_part_way_marks_only_whole_folders_finished(pictures, tmp_path):
    """Ctrl-C between two pictures: the first one saved is finished, the one after it is not."""
    jobs = [batch.ImageJob(pictures / f"{name}.png", tmp_path / name) for name in NAMES]
    plan = batch.BatchPlan(tuple(jobs), (), ())
    files = {name: b"x" for name in batch.RESULT_FILES}

    def stopped_after_one(todo):
        yield todo[0], batch.ImageResult(todo[0].name, files)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        batch.run_batch(plan, {"settings": 1}, stopped_after_one)
    states = [batch.folder_state(job, {"settings": 1}) for job in jobs]
    assert states == [batch.FolderState.FINISHED, batch.FolderState.UNFINISHED, batch.FolderState.UNFINISHED]


def test_a_picture_that_cannot_be_read_fails_alone(tmp_path):
    pictures = make_pictures(tmp_path / "in", ["good"])
    (pictures / "bad.png").write_text("not a picture")
    done = strokebot("batch", pictures, "-o", tmp_path / "out", "--workers", 1, *FIT)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert any(line.startswith("strokebot: error: bad.png: ") for line in done.stderr.splitlines())
    assert "1 of 2 images failed" in done.stderr
    assert (tmp_path / "out" / "good" / "done.json").is_file()
    assert not (tmp_path / "out" / "bad" / "done.json").exists()


def test_two_pictures_with_one_name_are_refused_before_any_work(tmp_path):
    pictures = make_pictures(tmp_path / "in", ["a"])
    shutil.copy(pictures / "a.png", pictures / "a.jpg")
    done = strokebot("batch", pictures, "-o", tmp_path / "out", *FIT)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "a.jpg and a.png" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_folder_without_pictures_is_refused(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    make_pictures(tmp_path / "in" / "sub", ["deeper"])  # subfolders are not searched
    (tmp_path / "in" / "notes.txt").write_text("no picture")
    done = strokebot("batch", tmp_path / "in", "-o", tmp_path / "out")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("strokebot: error: no images in")
    assert len(done.stderr.strip().splitlines()) == 1


def test_pictures_are_found_sorted_without_hidden_files_or_other_files(tmp_path):
    make_pictures(tmp_path, ["b", "a", ".hidden"])
    (tmp_path / "c.txt").write_text("")
    shutil.copy(tmp_path / "a.png", tmp_path / "c.JPG")
    assert [p.name for p in batch.find_images(tmp_path)] == ["a.png", "b.png", "c.JPG"]


def test_workers_share_the_cores():
    assert batch.default_workers(8) == 4 and batch.default_workers(1) == 1
    assert batch.threads_per_worker(2, cores=8) == 4 and batch.threads_per_worker(16, cores=8) == 1


PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps({m: m in sys.modules for m in ("torch", "ray")}), file=sys.stderr))
from strokebot.cli import main
main(sys.argv[1:])
"""


def test_batch_help_imports_neither_torch_nor_ray():
    done = subprocess.run([sys.executable, "-c", PROBE, "batch", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--ray" in done.stdout and "--workers" in done.stdout
    assert json.loads(done.stderr.strip().splitlines()[-1]) == {"torch": False, "ray": False}


def test_ray_without_ray_installed_says_how_to_install_it(tmp_path, pictures):
    shim = tmp_path / "shim" / "ray"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env_path = f"{shim.parent}:{ROOT}"
    done = subprocess.run([sys.executable, "-c", "from strokebot.cli import main; main()", "batch", pictures,
                           "-o", tmp_path / "out", "--ray", "local"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": env_path})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["strokebot: error: --ray needs ray, which is not installed: "
                                                "pip install 'strokebot[ray]'"]
    assert not (tmp_path / "out").exists()


def test_a_local_ray_cluster_gives_the_same_strokes(batches, tmp_path):
    pytest.importorskip("ray")
    pictures = tmp_path / "in"
    pictures.mkdir()
    for name in NAMES[:2]:
        shutil.copy(batches[1].parent / "in" / f"{name}.png", pictures)
    done = strokebot("batch", pictures, "-o", tmp_path / "out", "--ray", "local", *FIT)
    assert done.returncode == 0, done.stderr
    assert "2 images fitted and planned" in done.stdout
    assert svgs(tmp_path / "out", NAMES[:2]) == svgs(batches[1], NAMES[:2])
