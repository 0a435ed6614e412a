"""Stroke datasets: random actions and the strokes MyPaint paints for them, in compressed shards on disk.

A dataset is a folder holding ``manifest.json`` (the settings and, for every finished shard, its file,
stroke count and SHA-256) and ``shard-00000.npz``, ``shard-00001.npz``, ... (``np.savez_compressed``), each
with ``actions`` float32 (n, 12), ``images`` uint8 (n, H, W, 3) RGB on white and ``alpha`` uint8 (n, H, W).

Shard k's actions are ``random_actions(n, np.random.default_rng([seed, k]))`` (rounded to float32 before
painting, so the stored actions are exactly the ones painted): every shard can be made on its own, by any
worker, in any order, with the same result. The manifest is rewritten after every finished shard, so an
interrupted run is resumed by running it again, and a larger ``strokes`` adds shards to a finished dataset.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from strokeopt.painters.actions import ACTION_FIELDS, ACTION_SIZE, ActionError, check_actions, random_actions
from strokeopt.painters.mypaint import DEFAULT_BRUSH, Brush, MyPaintPainter, load_library
from strokeopt.painters.storage import file_sha256, write_atomic
from strokeopt.progress import progress_bar

FORMAT = "strokebot-stroke-data"
VERSION = 1
MANIFEST_NAME = "manifest.json"
DEFAULT_SHARD_SIZE = 2000
STROKES_RANGE = (1, 10_000_000)
CANVAS_PX_RANGE = (16, 512)
SHARD_SIZE_RANGE = (1, 100_000)
SHARD_TEMPORARIES = ".shard-*.npz.*.tmp"  # what write_atomic leaves if a worker is killed mid-write
STOP_CHECK_STROKES = 100  # a worker told to stop gives up its shard within this many strokes

# Settings a resumed run must share with the dataset it adds to: (manifest field, words for the user).
RESUME_SETTINGS = (
    ("brush", "brush"),
    ("brush_sha256", "brush file (SHA-256)"),
    ("canvas_px", "canvas size in px"),
    ("seed", "seed"),
    ("shard_size", "shard size"),
    ("engine_noise", "engine noise"),
    ("library", "libmypaint"),
)


class EventLike(Protocol):
    """What a worker needs of a stop signal (``multiprocessing.Event``)."""

    def is_set(self) -> bool: ...


class DatasetError(ValueError):
    """A dataset folder, manifest or shard that cannot be used as asked; the message names the file."""


@dataclass(frozen=True)
class ShardRecord:
    """One finished shard: its index, file name in the dataset folder, number of strokes and SHA-256."""

    index: int
    file: str
    count: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says: how the strokes were made and which shards are finished."""

    brush: str
    brush_sha256: str
    canvas_px: int
    seed: int
    strokes: int
    shard_size: int
    engine_noise: bool
    library: str
    shards: tuple[ShardRecord, ...] = ()
    complete: bool = False
    action_fields: tuple[str, ...] = ACTION_FIELDS

    @property
    def strokes_present(self) -> int:
        """Strokes in the finished shards."""
        return sum(shard.count for shard in self.shards)

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON-ready data, format name and version first."""
        data = asdict(self)
        data["shards"] = [asdict(shard) for shard in self.shards]
        data["action_fields"] = list(self.action_fields)
        return {"format": FORMAT, "version": VERSION, "complete": data.pop("complete"), **data}

    @classmethod
    def from_json(cls, data: Any, source: Path) -> "Manifest":
        """Parse manifest data read from ``source``; a ``DatasetError`` names the bad field by its path."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DatasetError(f"{source} is not a strokebot stroke dataset manifest (no format {FORMAT!r})")
        if data.get("version") != VERSION:
            raise DatasetError(f"{source}: version {data.get('version')!r} is not one this strokebot reads "
                               f"(it reads version {VERSION})")
        shards = _field(data, "shards", list, source)
        return cls(
            brush=_field(data, "brush", str, source),
            brush_sha256=_field(data, "brush_sha256", str, source),
            canvas_px=_field(data, "canvas_px", int, source),
            seed=_field(data, "seed", int, source),
            strokes=_field(data, "strokes", int, source),
            shard_size=_field(data, "shard_size", int, source),
            engine_noise=_field(data, "engine_noise", bool, source),
            library=_field(data, "library", str, source),
            shards=tuple(_shard_record(item, f"shards[{k}]", source) for k, item in enumerate(shards)),
            complete=_field(data, "complete", bool, source),
            action_fields=tuple(_field(data, "action_fields", list, source)),
        )


@dataclass(frozen=True)
class StrokeData:
    """Strokes read from a dataset: actions float32 (N, 12), images uint8 (N, H, W, 3), alpha uint8 (N, H, W)."""

    actions: np.ndarray
    images: np.ndarray
    alpha: np.ndarray
    manifest: Manifest
    manifest_sha256: str  # of manifest.json as read: names the data a painter was trained on

    @property
    def complete(self) -> bool:
        """Whether the run that made the dataset finished (False: only the shards made so far are here)."""
        return self.manifest.complete

    def __len__(self) -> int:
        return len(self.actions)


def shard_name(index: int) -> str:
    """The file name of shard ``index``."""
    return f"shard-{index:05d}.npz"


def shard_counts(strokes: int, shard_size: int) -> list[int]:
    """Strokes in each shard: full shards, then the remainder."""
    full, rest = divmod(strokes, shard_size)
    return [shard_size] * full + ([rest] if rest else [])


def shard_actions(seed: int, index: int, count: int) -> np.ndarray:
    """Shard ``index``'s actions (count, 12) float32: the same whoever makes it, whenever."""
    return random_actions(count, np.random.default_rng([seed, index])).astype(np.float32)


def default_workers() -> int:
    """CPU cores this process may use (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of the dataset in ``folder``; ``DatasetError`` if it is missing or unreadable."""
    return _read_manifest(Path(folder))[0]


def _read_manifest(folder: Path) -> tuple[Manifest, str]:
    """The manifest in ``folder`` and the SHA-256 of its bytes (which name this state of the dataset)."""
    path = folder / MANIFEST_NAME
    try:
        raw = path.read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{folder} holds no stroke dataset: {path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"cannot read {path}: {error}") from None
    return Manifest.from_json(data, path), hashlib.sha256(raw).hexdigest()


def make_dataset(
    out_dir: str | Path,
    strokes: int,
    canvas_px: int = 64,
    brush: str = DEFAULT_BRUSH,
    seed: int = 0,
    shard_size: int = DEFAULT_SHARD_SIZE,
    workers: int | None = None,
    engine_noise: bool = False,
    progress: bool = True,
    on_shard: Callable[[ShardRecord], None] | None = None,
) -> Manifest:
    """Paint ``strokes`` random strokes with MyPaint into shards in ``out_dir``, resuming what is there.

    Shards already listed in the folder's manifest with the same settings and an unchanged SHA-256 are kept;
    the others are painted by ``workers`` processes (default: every core this process may use). ``on_shard``
    is called in this process after each shard painted by this run is recorded in the manifest. Raises
    ``DatasetError`` for bad settings or a folder holding something else, ``BrushError`` for an unknown
    brush, ``MyPaintMissing`` when libmypaint is not installed; none of these writes anything.
    """
    _check_range("strokes", strokes, STROKES_RANGE)
    _check_range("canvas size in px", canvas_px, CANVAS_PX_RANGE)
    _check_range("shard size", shard_size, SHARD_SIZE_RANGE)
    if seed < 0:
        raise DatasetError(f"the seed must be 0 or more, not {seed}")
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise DatasetError(f"workers must be 1 or more, not {workers}")
    library = load_library()
    loaded = Brush.load(brush)
    wanted = Manifest(
        brush=brush, brush_sha256=hashlib.sha256(loaded.json_text.encode("utf-8")).hexdigest(),
        canvas_px=canvas_px, seed=seed, strokes=strokes, shard_size=shard_size, engine_noise=engine_noise,
        library=str(library._name),
    )
    folder = Path(out_dir)
    counts = shard_counts(strokes, shard_size)
    kept = _kept_shards(folder, wanted, counts)
    todo = [(index, count) for index, count in enumerate(counts) if index not in kept]

    folder.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(folder)
    finished = dict(kept)
    manifest = _record(folder, wanted, finished, done=not todo)

    def keep_late(shards: list[ShardRecord]) -> None:
        """Record shards that workers finished after this run was stopped."""
        finished.update((shard.index, shard) for shard in shards)
        _record(folder, wanted, finished, done=len(finished) == len(counts))

    try:
        with _painted_shards(todo, workers, folder, loaded, canvas_px, seed, engine_noise, keep_late) as painted:
            bar = progress_bar(  # made after the pool started: tqdm runs a thread
                total=strokes, initial=sum(shard.count for shard in kept.values()), unit="stroke",
                unit_scale=True, desc=f"painting strokes into {folder}", enabled=progress, mininterval=0.1,
            )
            with bar:
                for shard in painted:
                    finished[shard.index] = shard
                    manifest = _record(folder, wanted, finished, done=len(finished) == len(counts))
                    bar.update(shard.count)
                    if on_shard is not None:
                        on_shard(shard)
    finally:
        _remove_temporaries(folder)  # the pool has stopped: nothing is still writing
    return manifest


def load_dataset(folder: str | Path, limit: int | None = None) -> StrokeData:
    """The strokes of the dataset in ``folder`` (the first ``limit`` of them), every shard checked.

    A dataset whose run did not finish is read too, from the shards it lists (``StrokeData.complete`` is
    then False). A missing, changed, truncated or foreign shard raises a ``DatasetError`` naming the file.
    """
    folder = Path(folder)
    manifest, manifest_sha256 = _read_manifest(folder)
    if manifest.action_fields != ACTION_FIELDS:
        raise DatasetError(f"{folder / MANIFEST_NAME}: the actions are laid out as {list(manifest.action_fields)}, "
                           f"not as this strokebot's {list(ACTION_FIELDS)}")
    if limit is not None and limit < 1:
        raise DatasetError(f"limit must be 1 or more, not {limit}")
    shards = sorted(manifest.shards, key=lambda shard: shard.index)
    total = manifest.strokes_present if limit is None else min(limit, manifest.strokes_present)
    size = manifest.canvas_px
    actions = np.empty((total, ACTION_SIZE), dtype=np.float32)
    images = np.empty((total, size, size, 3), dtype=np.uint8)
    alpha = np.empty((total, size, size), dtype=np.uint8)
    start = 0
    for shard in shards:
        if start >= total:
            break
        arrays = _read_shard(folder / shard.file, shard, size)
        take = min(shard.count, total - start)
        actions[start:start + take] = arrays["actions"][:take]
        images[start:start + take] = arrays["images"][:take]
        alpha[start:start + take] = arrays["alpha"][:take]
        start += take
    return StrokeData(actions, images, alpha, manifest, manifest_sha256)


class ShardStopped(Exception):
    """A worker gave up the shard it was painting because the run is stopping."""


class ShardMaker:
    """Paints and writes the shards of one dataset; one per worker process, its painter made once."""

    def __init__(self, folder: Path, brush: Brush, canvas_px: int, seed: int, engine_noise: bool,
                 stop: EventLike | None = None) -> None:
        self.folder = folder
        self.seed = seed
        self.painter = MyPaintPainter(brush, canvas_px, engine_noise=engine_noise)
        self.stop = stop

    def __call__(self, index: int, count: int) -> ShardRecord:
        """Paint shard ``index`` of ``count`` strokes, write it whole and return its record."""
        actions = shard_actions(self.seed, index, count)
        size = self.painter.canvas_px
        images = np.empty((count, size, size, 3), dtype=np.uint8)
        alpha = np.empty((count, size, size), dtype=np.uint8)
        self.painter.close()  # with engine noise, each shard starts the engine's random sequence afresh
        for start in range(0, count, STOP_CHECK_STROKES):
            if self.stop is not None and self.stop.is_set():
                raise ShardStopped(f"shard {index} given up")
            chunk = slice(start, start + STOP_CHECK_STROKES)
            images[chunk], alpha[chunk] = self.painter.paint(actions[chunk])
        name = shard_name(index)
        path = self.folder / name
        write_atomic(path, lambda f: np.savez_compressed(f, actions=actions, images=images, alpha=alpha))
        return ShardRecord(index=index, file=name, count=count, sha256=file_sha256(path))


_worker_maker: ShardMaker | None = None  # the ShardMaker of this worker process


def _start_worker(folder: Path, brush: Brush, canvas_px: int, seed: int, engine_noise: bool,
                  stop: EventLike) -> None:
    """Pool initializer: build this worker's painter; Ctrl-C is the parent's, which sets ``stop``."""
    global _worker_maker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_maker = ShardMaker(folder, brush, canvas_px, seed, engine_noise, stop)


def _paint_in_worker(index: int, count: int) -> ShardRecord:
    assert _worker_maker is not None, "_start_worker did not run in this process"
    return _worker_maker(index, count)


@contextmanager
def _painted_shards(
    todo: list[tuple[int, int]], workers: int, folder: Path, brush: Brush, canvas_px: int, seed: int,
    engine_noise: bool, keep_late: Callable[[list[ShardRecord]], None],
) -> Iterator[Iterator[ShardRecord]]:
    """The shards in ``todo`` painted and written, as they finish: in this process or by a pool started now.

    If the caller stops early (any exception), the workers give up their shards within a few strokes;
    shards they finished meanwhile go to ``keep_late``, and the pool has ended before the exception goes on.
    """
    if workers == 1 or len(todo) <= 1:
        maker = ShardMaker(folder, brush, canvas_px, seed, engine_noise)
        with maker.painter:
            yield (maker(index, count) for index, count in todo)
        return
    context = _pool_context()
    stop = context.Event()
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=context, initializer=_start_worker,
                             initargs=(folder, brush, canvas_px, seed, engine_noise, stop)) as pool:
        futures = [pool.submit(_paint_in_worker, index, count) for index, count in todo]
        try:
            yield _results(futures, folder)
        except BaseException:
            stop.set()
            for future in futures:
                future.cancel()
            pool.shutdown(wait=True)
            keep_late([f.result() for f in futures if f.done() and not f.cancelled() and f.exception() is None])
            raise


def _results(futures: list[Future[ShardRecord]], folder: Path) -> Iterator[ShardRecord]:
    """Each future's shard as it finishes; a worker's exception is raised here, a dead worker explained."""
    for future in as_completed(futures):
        try:
            shard = future.result()
        except BrokenProcessPool:
            raise DatasetError(f"a worker process painting into {folder} died (out of memory?); "
                               "try fewer workers or a smaller shard size") from None
        yield shard


def _pool_context() -> multiprocessing.context.BaseContext:
    """Fork on Linux while this process runs no other thread, spawn otherwise (the worker code is spawn-safe).

    Forked workers start at once; spawned ones import the caller's main module again, which for the
    ``strokebot`` command means torch, seconds per worker.
    """
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _record(folder: Path, wanted: Manifest, finished: dict[int, ShardRecord], done: bool) -> Manifest:
    """Write the manifest listing the finished shards, whole, and return it."""
    manifest = replace(wanted, shards=tuple(finished[k] for k in sorted(finished)), complete=done)
    text = json.dumps(manifest.to_json(), indent=1) + "\n"
    write_atomic(folder / MANIFEST_NAME, lambda f: f.write(text.encode("utf-8")))
    return manifest


def _kept_shards(folder: Path, wanted: Manifest, counts: list[int]) -> dict[int, ShardRecord]:
    """The shards of an earlier run into ``folder`` that this run keeps; ``DatasetError`` if it must not add."""
    if not folder.exists():
        return {}
    if not folder.is_dir():
        raise DatasetError(f"{folder} is a file, not a folder for a stroke dataset")
    if not (folder / MANIFEST_NAME).exists():
        if any(folder.iterdir()):
            raise DatasetError(f"{folder} is not empty and holds no stroke dataset ({MANIFEST_NAME} is missing); "
                               "pick a new or empty folder")
        return {}
    old = read_manifest(folder)
    for name, words in RESUME_SETTINGS:
        then, now = getattr(old, name), getattr(wanted, name)
        if then != now:
            raise DatasetError(f"{folder} holds a stroke dataset made with {words} {then!r}, not {now!r}; "
                               "pick another folder, or the settings it was made with to resume or extend it")
    if wanted.strokes < old.strokes:
        raise DatasetError(f"{folder} holds a stroke dataset of {old.strokes} strokes, more than {wanted.strokes}; "
                           "pick another folder, or read fewer strokes from it with a limit")
    kept = {}
    for shard in old.shards:
        if (shard.index < len(counts) and shard.count == counts[shard.index] and shard.file == shard_name(shard.index)
                and (folder / shard.file).is_file() and file_sha256(folder / shard.file) == shard.sha256):
            kept[shard.index] = shard
    return kept


def _read_shard(path: Path, shard: ShardRecord, canvas_px: int) -> dict[str, np.ndarray]:
    """A shard's arrays, after checking its digest, names, shapes, types and action values."""
    if not path.is_file():
        raise DatasetError(f"shard {path} is missing (it is listed in {MANIFEST_NAME})")
    try:
        digest = file_sha256(path)
    except OSError as error:
        raise DatasetError(f"cannot read shard {path}: {error.strerror or error}") from None
    if digest != shard.sha256:
        raise DatasetError(f"shard {path} is damaged or was changed: its SHA-256 is not the one in {MANIFEST_NAME}")
    expected = {
        "actions": ((shard.count, ACTION_SIZE), np.float32),
        "images": ((shard.count, canvas_px, canvas_px, 3), np.uint8),
        "alpha": ((shard.count, canvas_px, canvas_px), np.uint8),
    }
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = sorted(set(expected) - set(npz.files))
            if missing:
                raise DatasetError(f"shard {path} is not a stroke shard: it has no {', '.join(missing)}")
            arrays = {name: npz[name] for name in expected}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        if isinstance(error, DatasetError):
            raise
        raise DatasetError(f"shard {path} is not a readable stroke shard: {error}") from None
    for name, (shape, dtype) in expected.items():
        if arrays[name].shape != shape or arrays[name].dtype != dtype:
            raise DatasetError(f"shard {path}: {name} is {arrays[name].dtype} {arrays[name].shape}, "
                               f"expected {np.dtype(dtype)} {shape}")
    try:
        check_actions(arrays["actions"])
    except ActionError as error:
        raise DatasetError(f"shard {path}: {error}") from None
    return arrays


def _remove_temporaries(folder: Path) -> None:
    """Delete shard files left half-written by workers that were stopped (never a finished file)."""
    for stale in folder.glob(SHARD_TEMPORARIES):
        stale.unlink(missing_ok=True)


def _check_range(words: str, value: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise DatasetError(f"the {words} must be between {low} and {high}, not {value}")


def _field(data: dict, name: str, kind: type, source: Path, where: str = "") -> Any:
    """``data[name]`` when it is a ``kind`` (bool is not an int here); ``DatasetError`` naming its path if not."""
    value = data.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DatasetError(f"{source}: {where}{name} must be a {kind.__name__}, not {value!r}")
    return value


def _shard_record(item: Any, where: str, source: Path) -> ShardRecord:
    if not isinstance(item, dict):
        raise DatasetError(f"{source}: {where} must be an object with index, file, count and sha256")
    fields = {name: _field(item, name, kind, source, f"{where}.") for name, kind in
              (("index", int), ("file", str), ("count", int), ("sha256", str))}
    if Path(fields["file"]).name != fields["file"] or fields["count"] < 1 or fields["index"] < 0:
        raise DatasetError(f"{source}: {where} is not a shard of this folder ({item!r})")
    return ShardRecord(**fields)
