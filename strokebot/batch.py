"""Many pictures at once: a folder of images fitted and planned, each into its own folder, on local processes or Ray.

An image's folder is finished when its ``done.json`` names the settings it was made with: that marker is written
last, after every other file is whole, and removed before an image is redone, so a batch stopped anywhere
(Ctrl-C, a killed machine) redoes only the images it had not finished. A worker writes nothing in the output
folder: it returns the files' bytes and the parent writes them, so a Ray cluster needs no shared file system.

Nothing here imports torch or ray at import time: the fit half loads in the workers, and ray only with ``--ray``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from calibration import MachineProfile, profile_to_toml
from gcode import PlanOptions
from strokebot.files import check_output_dir, write_bytes_atomic, write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from strokebot.fitting import FitOptions

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
RESULT_FILES = ("strokes.svg", "render.png", "fit.json", "drawing.gcode", "plan.json")
DONE_FILE = "done.json"  # the finished marker, written last
IMAGE_OUTPUTS = (*RESULT_FILES, DONE_FILE)
RAY_INSTALL_HINT = "pip install 'strokebot[ray]'"


class BatchInputError(ValueError):
    """A folder of images the batch cannot start on (none there, two with one name); the message says which."""


class RayMissingError(ImportError):
    """``--ray`` was given but ray is not installed."""


class WorkerDiedError(RuntimeError):
    """A local worker process was killed while it fitted a picture."""


@dataclass(frozen=True)
class ImageJob:
    """One picture of the batch and the folder its outputs go into."""

    image: Path
    out_dir: Path

    @property
    def name(self) -> str:
        return self.image.name


@dataclass(frozen=True)
class ImageResult:
    """What came back for one picture: its files' bytes, or the one-line reason it failed."""

    name: str
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class BatchPlan:
    """The batch's images split into those to do and those already finished with the same settings."""

    todo: tuple[ImageJob, ...]
    finished: tuple[ImageJob, ...]
    changed: tuple[ImageJob, ...]  # among ``todo``: finished before, with other settings (redone)


def find_images(in_dir: str | Path) -> list[Path]:
    """The pictures directly in ``in_dir`` (not in subfolders, no hidden files), sorted by name.

    Raises BatchInputError when there are none, or when two share a name but for the suffix (``a.png``,
    ``a.jpg``): both would go into the folder ``a``.
    """
    in_dir = Path(in_dir)
    images = sorted(p for p in in_dir.iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())
    if not images:
        raise BatchInputError(f"no images in {in_dir} (looked for {', '.join(IMAGE_SUFFIXES)}; subfolders are "
                              "not searched)")
    by_stem: dict[str, list[Path]] = {}
    for image in images:
        by_stem.setdefault(image.stem.casefold(), []).append(image)
    clashes = [names for names in by_stem.values() if len(names) > 1]
    if clashes:
        listed = "; ".join(" and ".join(p.name for p in names) for names in clashes)
        raise BatchInputError(f"images with the same name would share an output folder: {listed} in {in_dir}; "
                              "rename one of each")
    return images


def batch_settings(profile: MachineProfile, options: FitOptions) -> dict:
    """Everything that decides an image's outputs besides the image itself, as JSON values."""
    fit = {k: v for k, v in dataclasses.asdict(options).items() if k != "progress"}
    settings = {"fit": fit, "plan": dataclasses.asdict(PlanOptions()), "profile": profile_to_toml(profile)}
    return json.loads(json.dumps(settings))  # tuples as lists: equal to what done.json reads back


def done_record(image: Path, settings: dict) -> dict:
    """What ``done.json`` holds: the picture's name and sha256, and the settings its outputs were made with."""
    return {"image": image.name, "image_sha256": _sha256(image), "settings": settings}


class FolderState(enum.Enum):
    """Where an image's output folder stands."""

    UNFINISHED = "unfinished"  # no marker (new, or stopped part way), or one that cannot be read
    FINISHED = "finished"  # finished with these settings, from this picture
    CHANGED = "changed"  # finished, but with other settings or from another picture


def folder_state(job: ImageJob, settings: dict) -> FolderState:
    """Whether ``job``'s folder is finished, and with these settings."""
    try:
        record = json.loads((job.out_dir / DONE_FILE).read_text())
    except (OSError, ValueError):
        return FolderState.UNFINISHED
    if not all((job.out_dir / name).is_file() for name in RESULT_FILES):
        return FolderState.UNFINISHED
    return FolderState.FINISHED if record == done_record(job.image, settings) else FolderState.CHANGED


def plan_batch(images: Sequence[Path], out_dir: str | Path, settings: dict) -> BatchPlan:
    """Each picture's job, and which are finished already; refuses output folders that cannot be written."""
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    todo, finished, changed = [], [], []
    for image in images:
        job = ImageJob(image, out_dir / image.stem)
        check_output_dir(job.out_dir, IMAGE_OUTPUTS)
        state = folder_state(job, settings)
        (finished if state is FolderState.FINISHED else todo).append(job)
        if state is FolderState.CHANGED:
            changed.append(job)
    return BatchPlan(tuple(todo), tuple(finished), tuple(changed))


def unfinish(job: ImageJob) -> None:
    """Remove ``job``'s finished marker before it is redone, so that half-new outputs never count as finished."""
    (job.out_dir / DONE_FILE).unlink(missing_ok=True)


def save_result(job: ImageJob, result: ImageResult, settings: dict) -> None:
    """Write an image's files, each whole, and then its finished marker."""
    for name in RESULT_FILES:
        write_bytes_atomic(job.out_dir / name, result.files[name])
    write_json_atomic(job.out_dir / DONE_FILE, done_record(job.image, settings))


def fit_and_plan(image: Path, profile: MachineProfile, options: FitOptions) -> ImageResult:
    """Fit and plan one picture; returns the bytes of its files, or the reason it failed (a user-caused one).

    A bad picture or a plan that does not fit the machine is a result (the batch goes on); a bug is raised.
    """
    from strokebot import fitting, pipeline  # torch: imported where the fit runs

    try:
        run = fitting.fit_image(image, profile, options)
        with tempfile.TemporaryDirectory(prefix="strokebot-batch-") as tmp:
            folder = Path(tmp)
            fitting.write_fit(run, folder)
            planned = pipeline.plan_svg(folder / "strokes.svg", profile)
            write_text_atomic(folder / "drawing.gcode", "\n".join(planned.lines) + "\n")  # as `strokebot plan` does
            write_json_atomic(folder / "plan.json", planned.stats.to_dict())
            files = {name: (folder / name).read_bytes() for name in RESULT_FILES}
    except (ValueError, OSError) as exc:
        return ImageResult(image.name, error=" ".join((str(exc) or type(exc).__name__).split()))
    return ImageResult(image.name, files)


def default_workers(cores: int | None = None) -> int:
    """One worker for every two cores, at least one: each fit runs its rasteriser on the worker's threads."""
    return max(1, (cores or available_cores()) // 2)


def available_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Threads each worker's fit may use, so that ``workers`` workers together use the cores once."""
    return max(1, (cores or available_cores()) // workers)


def set_worker_threads(threads: int) -> None:
    """In a worker process of its own: torch, numba and OpenMP use ``threads`` threads; Ctrl-C is the parent's.

    Ctrl-C reaches every process of the terminal's group: the workers leave it to the parent, which stops them
    as it does at SIGTERM or an error; the pictures they were fitting are redone by the next run.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before torch is imported (numba already is)
        os.environ[variable] = str(threads)
    import numba
    import torch
    from PIL import Image

    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    warnings.simplefilter("error", Image.DecompressionBombWarning)  # as strokebot.cli.main does


def run_local(
    jobs: Sequence[ImageJob], profile: MachineProfile, options: FitOptions, workers: int, threads: int
) -> Iterator[tuple[ImageJob, ImageResult]]:
    """Fit and plan ``jobs`` on ``workers`` spawned processes of ``threads`` threads each, yielding results as
    they come; the processes are stopped when the iteration ends, early or not (Ctrl-C included).

    Raises WorkerDiedError when a worker process is killed (out of memory, a signal of its own).
    """
    context = multiprocessing.get_context("spawn")  # torch after fork is unsafe
    executor = ProcessPoolExecutor(workers, mp_context=context, initializer=set_worker_threads, initargs=(threads,))
    try:
        futures = {executor.submit(fit_and_plan, job.image, profile, options): job for job in jobs}
        for returned, future in enumerate(as_completed(futures)):
            try:
                result = future.result()
            except BrokenProcessPool:
                raise WorkerDiedError(f"a worker process died (killed, or out of memory) with {len(jobs) - returned} "
                                      "pictures unfinished; the finished ones are kept, and the same command "
                                      "goes on with the rest (fewer --workers need less memory)") from None
            yield futures[future], result
    except BaseException:  # Ctrl-C, an error, or the caller stopping early (GeneratorExit)
        _stop(executor)
        raise
    executor.shutdown()


def _stop(executor: ProcessPoolExecutor) -> None:
    """Shut ``executor`` down now: queued pictures dropped, running ones stopped (their processes terminated)."""
    processes = list(executor._processes.values())  # no public way to stop them before Python 3.14
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


def _ray_task(name: str, data: bytes, profile: MachineProfile, options: FitOptions) -> ImageResult:
    """A Ray task: the picture's bytes to a file of its name in a temporary folder, then fit and plan it."""
    import numba
    import torch

    torch.set_num_threads(1)  # the task asks Ray for one CPU
    numba.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="strokebot-ray-") as tmp:
        image = Path(tmp) / name
        image.write_bytes(data)
        result = fit_and_plan(image, profile, options)
    if result.error is not None:
        return dataclasses.replace(result, error=result.error.replace(str(image), name))
    return result


def import_ray():
    """The ray module, or RayMissingError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayMissingError(f"--ray needs ray, which is not installed: {RAY_INSTALL_HINT}") from None
    return ray


def run_ray(
    jobs: Sequence[ImageJob], profile: MachineProfile, options: FitOptions, address: str, in_flight: int | None
) -> Iterator[tuple[ImageJob, ImageResult]]:
    """Fit and plan ``jobs`` as Ray tasks of one CPU each on the cluster at ``address``, yielding results as they
    come; at most ``in_flight`` pictures are sent at once (None: two per CPU of the cluster).

    ``address``: "local" starts a cluster on this machine for the batch, "auto" joins the one running here,
    else a cluster's address (``ray://host:10001``). The pictures travel as bytes and the outputs come back, so
    the nodes need strokebot installed but no shared folder. A task asks for no GPU, so Ray hides the GPUs from
    it and it fits on the CPU. Unfinished tasks are cancelled when the iteration ends early (Ctrl-C included),
    and the connection is closed.
    """
    ray = import_ray()
    extra = {"include_dashboard": False} if address == "local" else {}
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, **extra)
    except ConnectionError as exc:
        raise ConnectionError(f"cannot reach a Ray cluster at {address!r}: {exc}") from None
    try:
        remote = ray.remote(num_cpus=1)(_ray_task)
        limit = in_flight or max(1, 2 * int(ray.cluster_resources().get("CPU", 1)))
        waiting = list(jobs)
        running: dict = {}
        try:
            while waiting or running:
                while waiting and len(running) < limit:
                    job = waiting.pop(0)
                    running[remote.remote(job.name, job.image.read_bytes(), profile, options)] = job
                ready, _ = ray.wait(list(running), num_returns=1)
                job = running.pop(ready[0])
                yield job, ray.get(ready[0])
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class BatchOutcome:
    """How a batch went: the pictures done and failed (name, reason), and its wall time."""

    done: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    seconds: float

    @property
    def images_per_min(self) -> float:
        return 60 * len(self.done) / self.seconds if self.seconds > 0 else 0.0


def run_batch(
    plan: BatchPlan,
    settings: dict,
    results: Callable[[Sequence[ImageJob]], Iterator[tuple[ImageJob, ImageResult]]],
    on_result: Callable[[ImageJob, ImageResult], None] = lambda job, result: None,
) -> BatchOutcome:
    """Do ``plan.todo`` with the executor ``results`` (``run_local`` or ``run_ray`` with their settings bound),
    saving each picture's files as they come and calling ``on_result`` after each."""
    started = time.perf_counter()
    for job in plan.todo:
        unfinish(job)
    done, failed = [], []
    with contextlib.closing(results(plan.todo)) as stream:  # closed at once on Ctrl-C: the workers stop
        for job, result in stream:
            if result.error is None:
                save_result(job, result, settings)
                done.append(job.name)
            else:
                failed.append((job.name, result.error))
            on_result(job, result)
    return BatchOutcome(tuple(done), tuple(failed), time.perf_counter() - started)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
