"""One training loop for every painter kind: batches, progress, checkpoints, sample grids, validation.

The loop asks the painter for its optimisers and calls its ``train_step`` on random batches of the
training strokes; a small validation set, fixed by the seed, is held out and scored at the end.

Reproducibility: every random number of step ``s`` comes from generators seeded by (seed, s) (the batch)
and (seed, s, rank) (the painter's own noise), so a run is bit-identical for a seed on the CPU, and a run
resumed from a checkpoint (weights, optimiser states, step) ends with the weights of an uninterrupted one.
The caller's global torch random state is restored afterwards.

Distributed: under ``torchrun`` (``WORLD_SIZE`` > 1) each process trains a replica wrapped in
``DistributedDataParallel`` (gloo on the CPU, NCCL on CUDA) on its own slice of every batch, so all
replicas take identical steps; rank 0 alone shows progress and writes files.
"""

from __future__ import annotations

import collections
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image

from strokeopt.painters.actions import ACTION_SIZE
from strokeopt.painters.base import KINDS, Painter
from strokeopt.painters.painter_file import CHECKPOINT_FORMAT, read_torch_dict, save_painter
from strokeopt.painters.storage import write_atomic
from strokeopt.progress import progress_bar

CHECKPOINT_VERSION = 1
DEFAULT_LEARNING_RATE = 1e-3  # for kinds that do not name their own ``default_learning_rate``
DEFAULT_BATCH = 64
DEFAULT_STEPS = 5000  # for kinds that do not name their own ``default_steps``
VALIDATION_FRACTION = 0.05
VALIDATION_MAX = 1000
SAMPLE_COUNT = 8  # validation strokes shown in each sample grid
SAMPLE_TILE_PX = 64  # smaller canvases are enlarged to this in the grids
LOSS_WINDOW = 50  # final losses: the mean over this many last steps
EVAL_BATCH = 256


class TrainingError(ValueError):
    """Training that cannot start: an unknown kind, unusable data, settings that do not fit."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that does not belong to the training asked for."""


class StrokeArrays(Protocol):
    """What training reads from a data set: actions (N, 12) in [0, 1], RGB images (N, H, W, 3) uint8 on white."""

    actions: Any
    images: Any


@dataclass
class TrainResult:
    """What a training run did; ``painter`` is the trained painter (eval mode, on the training device)."""

    painter: Painter = field(repr=False)
    kind: str
    steps: int  # steps done, counting those before a resume
    planned_steps: int
    seconds: float  # training wall time, counting the time before a resume
    losses: dict[str, float]  # mean of each loss over the last steps
    val_mse: float  # mean squared error of the painter on the held-out strokes (NaN on ranks other than 0)
    val_count: int
    device: str
    world_size: int
    rank: int  # this process's rank under torchrun (0 alone writes files)
    stopped_by_time_limit: bool
    out_path: Path | None
    checkpoint_path: Path | None
    samples: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class TrainSettings:
    """The resolved settings of one training run."""

    kind: str
    steps: int  # planned steps in all, counting those before a resume
    batch: int  # strokes per step, all processes together
    learning_rate: float
    seed: int
    checkpoint_every: int  # 0: only at the end
    sample_every: int  # 0: only at the end (with a samples folder)
    time_limit_s: float | None
    progress: bool


@dataclass(frozen=True)
class _Outputs:
    """Where a run writes, and what its painter file says about where it came from."""

    out_path: Path | None
    checkpoint_path: Path | None
    samples_dir: Path | None
    brush: str
    command: str
    data: dict[str, Any]  # count, canvas_px, dataset_manifest_sha256: what a resumed run must train on too


@dataclass(frozen=True)
class _Strokes:
    """The training data as tensors on the training device, and the split into training and validation."""

    actions: torch.Tensor  # float32 (N, 12)
    images: torch.Tensor  # uint8 (N, H, W, 3)
    train_idx: torch.Tensor
    val_idx: torch.Tensor


@dataclass
class _Progress:
    """Where a run stands: steps done, time, recent losses, sample files."""

    step: int = 0
    seconds_before: float = 0.0  # training time before a resume
    started: float = field(default_factory=time.perf_counter)
    stopped_by_time: bool = False
    sampled_at_end: bool = False  # whether the last step wrote a sample grid already
    history: collections.deque = field(default_factory=lambda: collections.deque(maxlen=LOSS_WINDOW))
    samples: list[Path] = field(default_factory=list)

    def elapsed(self) -> float:
        """Training time so far, counting the time before a resume."""
        return self.seconds_before + time.perf_counter() - self.started


@dataclass(frozen=True)
class _Ranks:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    started_here: bool = False  # whether this run initialised the process group (and so destroys it)

    @property
    def main(self) -> bool:
        return self.rank == 0


def default_learning_rate(kind: str) -> float:
    """The Adam step size a kind trains with unless told otherwise."""
    return float(getattr(_kind_class(kind), "default_learning_rate", DEFAULT_LEARNING_RATE))


def default_steps(kind: str) -> int:
    """Steps a kind trains for unless told otherwise: about ten minutes on two laptop CPU cores at 64 px."""
    return int(getattr(_kind_class(kind), "default_steps", DEFAULT_STEPS))


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' takes CUDA when present, else the CPU; 'cuda' without a GPU is an error; one GPU per local rank."""
    if name not in ("auto", "cpu", "cuda"):
        raise TrainingError(f"device must be auto, cpu or cuda; got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' was asked for but no CUDA GPU is available")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def train_from_folder(folder: str | Path, kind: str, out_path: str | Path | None, *, limit: int | None = None,
                      **options: Any) -> TrainResult:
    """``train_painter`` on the stroke data set in ``folder`` (see ``dataset.load_dataset``), with its provenance."""
    from strokeopt.painters.dataset import load_dataset

    _kind_class(kind)  # an unknown kind fails before the data are read
    data = load_dataset(folder, limit=limit)
    brush, manifest_sha256 = dataset_provenance(data)
    return train_painter(data, kind, out_path, brush=brush, dataset_manifest_sha256=manifest_sha256, **options)


def dataset_provenance(data: Any) -> tuple[str, str]:
    """(brush name, SHA-256 of manifest.json) of a data set from ``load_dataset``; placeholders for bare arrays."""
    return str(getattr(getattr(data, "manifest", None), "brush", "unknown")), str(getattr(data, "manifest_sha256", ""))


def train_painter(
    data: StrokeArrays, kind: str, out_path: str | Path | None, *, steps: int | None = None, batch: int | None = None,
    learning_rate: float | None = None, device: str = "auto", seed: int | None = None,
    resume: str | Path | None = None, checkpoint_every: int = 500, checkpoint_path: str | Path | None = None,
    sample_every: int = 500, samples_dir: str | Path | None = None, progress: bool = True, command: str = "",
    time_limit_s: float | None = None, kind_config: dict[str, Any] | None = None, brush: str = "unknown",
    dataset_manifest_sha256: str = "",
) -> TrainResult:
    """Train a painter of ``kind`` on ``data`` for ``steps`` steps (or ``time_limit_s``) and write its file.

    ``steps``, ``batch``, ``seed`` and ``learning_rate`` default to the resumed checkpoint's, else to the
    kind's steps, 64, 0 and the kind's step size; a resumed run may be given more steps, never another batch or
    seed. Checkpoints (default: ``out_path`` + ".ckpt") are written every ``checkpoint_every`` steps
    (0: never) and at the end; sample grids (rows: real | painted, for fixed validation strokes) every
    ``sample_every`` steps and at the end into ``samples_dir``. Under a time limit the painter is told its
    place in the budget (``train_step``'s ``step``) as the larger of the steps and the time used, so phased
    kinds (the VAE) still reach every phase. ``brush`` and ``dataset_manifest_sha256`` go into the file.
    """
    painter_class = _kind_class(kind)
    actions, images = _check_data(data)
    saved = _read_checkpoint(resume, kind) if resume is not None else None
    settings = _settings(kind, saved, steps=steps, batch=batch, learning_rate=learning_rate, seed=seed,
                         checkpoint_every=checkpoint_every, sample_every=sample_every, time_limit_s=time_limit_s,
                         progress=progress)
    out_path = Path(out_path) if out_path is not None else None
    if checkpoint_path is None and out_path is not None:
        checkpoint_path = out_path.with_name(out_path.name + ".ckpt")
    outputs = _Outputs(out_path=out_path, checkpoint_path=Path(checkpoint_path) if checkpoint_path else None,
                       samples_dir=Path(samples_dir) if samples_dir is not None else None, brush=brush,
                       command=command, data={"count": len(actions), "canvas_px": images.shape[1],
                                              "dataset_manifest_sha256": dataset_manifest_sha256})
    config = {"canvas_px": images.shape[1], **(kind_config or {})}
    if config["canvas_px"] != images.shape[1]:
        raise TrainingError(f"kind_config asks for a {config['canvas_px']} px canvas; the strokes are "
                            f"{images.shape[1]} px")
    if saved is not None:
        _check_resumable(saved, outputs.data, resume)
    train_idx, val_idx = split_validation(len(actions), settings.seed)
    ranks = _start_distributed(device)
    try:
        if settings.batch % ranks.world_size:
            raise TrainingError(f"batch {settings.batch} does not split evenly among {ranks.world_size} processes")
        if settings.batch > len(train_idx):
            raise TrainingError(f"batch {settings.batch} is larger than the {len(train_idx)} training strokes")
        run_device = pick_device(device, ranks.local_rank)
        strokes = _Strokes(actions.to(run_device), images.to(run_device), train_idx, val_idx)
        with torch.random.fork_rng(devices=[run_device.index] if run_device.type == "cuda" else []):
            torch.manual_seed(settings.seed)
            painter = _build(painter_class, config).to(run_device)
            if saved is not None and saved["config"] != painter.config():
                raise CheckpointError(f"checkpoint {str(resume)!r} has painter settings {saved['config']!r}, "
                                      f"not {painter.config()!r}")
            return _train(painter, strokes, settings, outputs, ranks, run_device, saved)
    finally:
        if ranks.started_here:
            dist.destroy_process_group()


def split_validation(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, validation) stroke indices: 5 % (1 to 1000) held out, chosen by the seed."""
    if count < 2:
        raise TrainingError(f"training needs at least 2 strokes; got {count}")
    held_out = min(VALIDATION_MAX, max(1, round(count * VALIDATION_FRACTION)))
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[held_out:].sort().values, order[:held_out].sort().values


def batch_indices(train_idx: torch.Tensor, batch: int, seed: int, step: int, ranks: _Ranks = _Ranks()) -> torch.Tensor:
    """The strokes this process trains on at ``step``: its slice of a batch drawn (without repeats) by (seed, step)."""
    generator = torch.Generator().manual_seed(_mix(seed, step, 0))
    chosen = train_idx[torch.randperm(len(train_idx), generator=generator)[:batch]]
    share = batch // ranks.world_size
    return chosen[ranks.rank * share:(ranks.rank + 1) * share]


def images_to_tensor(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (N, H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    return images.permute(0, 3, 1, 2).float().div_(255.0)


def sample_grid(real: torch.Tensor, painted: torch.Tensor) -> np.ndarray:
    """uint8 RGB picture of two rows, real strokes above the painter's, tiles enlarged to at least 64 px."""
    tiles = torch.stack([real, painted]).clamp(0, 1)  # (2, K, 3, H, W)
    scale = max(1, math.ceil(SAMPLE_TILE_PX / real.shape[-1]))
    tiles = tiles.repeat_interleave(scale, dim=-1).repeat_interleave(scale, dim=-2)
    tiles = torch.nn.functional.pad(tiles, (1, 1, 1, 1), value=0.5)  # grey lines between tiles
    rows, count, _, h, w = tiles.shape
    grid = tiles.permute(0, 3, 1, 4, 2).reshape(rows * h, count * w, 3)
    return (grid.cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


def validation_mse(painter: Painter, actions: torch.Tensor, images: torch.Tensor) -> float:
    """Mean squared error of the painter on strokes (actions, uint8 images), in eval mode."""
    was_training = painter.training
    painter.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(actions), EVAL_BATCH):
            real = images_to_tensor(images[start:start + EVAL_BATCH])
            total += float((painter(actions[start:start + EVAL_BATCH]) - real).square().sum())
    painter.train(was_training)
    return total / (len(actions) * images[0].numel())


def _train(painter: Painter, strokes: _Strokes, settings: TrainSettings, outputs: _Outputs, ranks: _Ranks,
           device: torch.device, saved: dict[str, Any] | None) -> TrainResult:
    """Train ``painter`` (restored from ``saved`` if given), then score it and write its file."""
    optimisers = painter.make_optimisers(settings.learning_rate)
    progress = _Progress()
    if saved is not None:
        _restore(painter, optimisers, saved, settings.learning_rate)
        progress.step, progress.seconds_before = int(saved["step"]), float(saved["seconds"])
    model = _wrap(painter, ranks, device)
    _run_steps(painter, model, optimisers, strokes, settings, outputs, ranks, device, progress)
    seconds = progress.elapsed()
    if ranks.main:
        _write_checkpoint(outputs, painter, optimisers, settings, progress.step, seconds, ranks.world_size)
        if outputs.samples_dir is not None and not progress.sampled_at_end:
            progress.samples.append(_write_samples(outputs.samples_dir, painter, strokes, progress.step))
    painter.eval()
    val_mse = validation_mse(painter, strokes.actions[strokes.val_idx], strokes.images[strokes.val_idx]) \
        if ranks.main else float("nan")
    losses = _recent_means(progress.history)
    if outputs.out_path is not None and ranks.main:
        training = {"steps": progress.step, "planned_steps": settings.steps, "seconds": round(seconds, 3),
                    "batch": settings.batch, "seed": settings.seed, "learning_rate": settings.learning_rate,
                    "final_losses": losses, "val_mse": val_mse, "val_count": len(strokes.val_idx),
                    "train_count": len(strokes.train_idx), "device": device.type, "world_size": ranks.world_size,
                    "stopped_by_time_limit": progress.stopped_by_time}
        save_painter(outputs.out_path, painter, brush=outputs.brush, canvas_px=painter.canvas_px,
                     dataset_manifest_sha256=outputs.data["dataset_manifest_sha256"], command=outputs.command,
                     training=training)
    if ranks.world_size > 1:
        dist.barrier()
    return TrainResult(painter=painter, kind=painter.kind, steps=progress.step, planned_steps=settings.steps,
                       seconds=seconds, losses=losses, val_mse=val_mse, val_count=len(strokes.val_idx),
                       device=str(device), world_size=ranks.world_size, rank=ranks.rank,
                       stopped_by_time_limit=progress.stopped_by_time, out_path=outputs.out_path,
                       checkpoint_path=outputs.checkpoint_path, samples=progress.samples)


def _run_steps(painter: Painter, model: torch.nn.Module, optimisers: list[torch.optim.Optimizer], strokes: _Strokes,
               settings: TrainSettings, outputs: _Outputs, ranks: _Ranks, device: torch.device,
               progress: _Progress) -> None:
    """Train from ``progress.step`` to the planned steps or the time limit, with checkpoints, samples and a bar."""
    bar = progress_bar(total=settings.steps, initial=min(progress.step, settings.steps),
                       desc=f"training {painter.kind}", unit="step", enabled=settings.progress and ranks.main,
                       dynamic_ncols=True, mininterval=0.5)
    painter.train()
    try:
        while progress.step < settings.steps:
            step = progress.step
            position = step
            if settings.time_limit_s is not None:
                used = _agreed(progress.elapsed(), ranks, device)
                if used >= settings.time_limit_s:
                    progress.stopped_by_time = True
                    break
                position = min(settings.steps - 1, max(step, int(settings.steps * used / settings.time_limit_s)))
            idx = batch_indices(strokes.train_idx, settings.batch, settings.seed, step, ranks).to(device)
            torch.manual_seed(_mix(settings.seed, step, 1, ranks.rank))
            losses = painter.train_step(strokes.actions[idx], images_to_tensor(strokes.images[idx]), optimisers,
                                        position, settings.steps, model=model)
            progress.step = done = step + 1
            progress.history.append(losses)
            bar.update(1)
            bar.set_postfix({name: f"{value:.4g}" for name, value in losses.items()}, refresh=False)
            progress.sampled_at_end = False
            if not ranks.main:
                continue
            if settings.checkpoint_every and done % settings.checkpoint_every == 0 and done < settings.steps:
                _write_checkpoint(outputs, painter, optimisers, settings, done, progress.elapsed(), ranks.world_size)
            if outputs.samples_dir is not None and settings.sample_every and done % settings.sample_every == 0:
                progress.samples.append(_write_samples(outputs.samples_dir, painter, strokes, done))
                progress.sampled_at_end = True
    finally:
        bar.close()


def _restore(painter: Painter, optimisers: list[torch.optim.Optimizer], saved: dict[str, Any],
             learning_rate: float) -> None:
    """Load a checkpoint's weights and optimiser states (the step size is this run's)."""
    painter.load_state_dict(saved["state_dict"])
    if len(saved["optimisers"]) != len(optimisers):
        raise CheckpointError(f"the checkpoint holds {len(saved['optimisers'])} optimiser states; "
                              f"this {painter.kind} painter has {len(optimisers)}")
    for optimiser, state in zip(optimisers, saved["optimisers"]):
        optimiser.load_state_dict(state)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate


def _settings(kind: str, saved: dict[str, Any] | None, *, steps: int | None, batch: int | None,
              learning_rate: float | None, seed: int | None, checkpoint_every: int, sample_every: int,
              time_limit_s: float | None, progress: bool) -> TrainSettings:
    """The run's settings: the caller's, else the resumed checkpoint's, else the defaults; checked."""
    if steps is None:
        steps = int(saved["steps"]) if saved is not None else default_steps(kind)
    if learning_rate is None:
        learning_rate = float(saved["learning_rate"]) if saved is not None else default_learning_rate(kind)
    settings = TrainSettings(kind=kind, steps=steps, batch=_resolve("batch", batch, saved, DEFAULT_BATCH),
                             learning_rate=float(learning_rate), seed=_resolve("seed", seed, saved, 0),
                             checkpoint_every=checkpoint_every, sample_every=sample_every,
                             time_limit_s=time_limit_s, progress=progress)
    for name in ("steps", "batch", "seed", "checkpoint_every", "sample_every"):
        value, least = getattr(settings, name), 1 if name in ("steps", "batch") else 0
        if not isinstance(value, int) or value < least:
            raise TrainingError(f"{name} must be a whole number >= {least}; got {value!r}")
    if not settings.learning_rate > 0:
        raise TrainingError(f"learning_rate must be positive; got {settings.learning_rate!r}")
    if time_limit_s is not None and not time_limit_s > 0:
        raise TrainingError(f"time_limit_s must be positive; got {time_limit_s!r}")
    return settings


def _kind_class(kind: str) -> type[Painter]:
    if kind not in KINDS:
        raise TrainingError(f"unknown painter kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    return KINDS[kind]


def _build(painter_class: type[Painter], config: dict[str, Any]) -> Painter:
    try:
        return painter_class(**config)
    except TypeError as exc:
        raise TrainingError(f"{painter_class.kind} painter settings {config!r} do not fit: {exc}") from exc


def _check_data(data: StrokeArrays) -> tuple[torch.Tensor, torch.Tensor]:
    """(actions float32 (N, 12), images uint8 (N, H, H, 3)) as tensors, or a ``TrainingError`` saying what is off."""
    actions = torch.as_tensor(np.asarray(data.actions), dtype=torch.float32)
    images = torch.as_tensor(np.asarray(data.images))
    if actions.ndim != 2 or actions.shape[1] != ACTION_SIZE:
        raise TrainingError(f"actions must be (N, {ACTION_SIZE}); got {tuple(actions.shape)}")
    if not torch.isfinite(actions).all() or actions.min() < 0 or actions.max() > 1:
        raise TrainingError("actions must be finite numbers in [0, 1]")
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[3] != 3 or images.shape[1] != images.shape[2]:
        raise TrainingError(f"images must be uint8 RGB (N, H, H, 3); got {images.dtype} {tuple(images.shape)}")
    if len(images) != len(actions):
        raise TrainingError(f"{len(actions)} actions but {len(images)} images")
    return actions, images


def _resolve(name: str, given: int | None, saved: dict[str, Any] | None, default: int) -> int:
    """A setting from the caller, else from the resumed checkpoint, else the default; a clash is an error."""
    if saved is not None:
        if given is not None and given != saved[name]:
            raise CheckpointError(f"the checkpoint was trained with {name} {saved[name]}, not {given}; resume with "
                                  f"the same {name}")
        return int(saved[name])
    return default if given is None else int(given)


def _mix(*numbers: int) -> int:
    """A 63-bit seed that depends on every number (seed, step, stream, rank), well spread."""
    return int(np.random.SeedSequence([int(n) for n in numbers]).generate_state(2, dtype=np.uint64)[0] >> 1)


def _start_distributed(device: str) -> _Ranks:
    """Join the torchrun process group when there is one (initialising it if nobody has)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return _Ranks()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    started = False
    if not dist.is_initialized():
        cuda = pick_device(device, local_rank).type == "cuda"
        if cuda:
            torch.cuda.set_device(local_rank % torch.cuda.device_count())
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        started = True
    return _Ranks(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, started_here=started)


def _wrap(painter: Painter, ranks: _Ranks, device: torch.device) -> torch.nn.Module:
    """The module that train_step calls: a DistributedDataParallel wrapper across processes, else the painter."""
    if ranks.world_size <= 1:
        return painter
    device_ids = [device.index] if device.type == "cuda" else None
    # find_unused_parameters: each phase or update of a kind trains only some of its submodules
    return torch.nn.parallel.DistributedDataParallel(painter, device_ids=device_ids, find_unused_parameters=True,
                                                     gradient_as_bucket_view=True)


def _agreed(value: float, ranks: _Ranks, device: torch.device) -> float:
    """Rank 0's ``value`` on every process (so all stop at the same step)."""
    if ranks.world_size <= 1:
        return value
    shared = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(shared, src=0)
    return float(shared)


def _recent_means(history: collections.deque[dict[str, float]]) -> dict[str, float]:
    if not history:
        return {}
    return {name: float(np.mean([h[name] for h in history if name in h])) for name in history[-1]}


def _write_checkpoint(outputs: _Outputs, painter: Painter, optimisers: list[torch.optim.Optimizer],
                      settings: TrainSettings, step: int, seconds: float, world_size: int) -> None:
    """Write everything a resumed run needs after ``step`` steps (nothing without a checkpoint path)."""
    if outputs.checkpoint_path is None:
        return
    contents = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "kind": painter.kind, "config": painter.config(),
        "state_dict": painter.state_dict(), "optimisers": [o.state_dict() for o in optimisers], "step": step,
        "steps": settings.steps, "seed": settings.seed, "batch": settings.batch,
        "learning_rate": settings.learning_rate, "seconds": seconds, "data": outputs.data, "world_size": world_size,
    }
    write_atomic(outputs.checkpoint_path, lambda f: torch.save(contents, f))


def _write_samples(folder: Path, painter: Painter, strokes: _Strokes, step: int) -> Path:
    """Write the sample grid of the first validation strokes after ``step`` steps into ``folder``; return its path."""
    shown = strokes.val_idx[:SAMPLE_COUNT]
    was_training = painter.training
    painter.eval()
    with torch.no_grad():
        grid = sample_grid(images_to_tensor(strokes.images[shown]), painter(strokes.actions[shown]))
    painter.train(was_training)
    path = folder / f"{painter.kind}_step{step:07d}.png"
    write_atomic(path, lambda f: Image.fromarray(grid).save(f, format="PNG"))
    return path


def _read_checkpoint(path: str | Path, kind: str) -> dict[str, Any]:
    name = f"checkpoint {str(path)!r}"
    contents = read_torch_dict(Path(path).read_bytes(), name, CheckpointError)
    if contents.get("format") != CHECKPOINT_FORMAT or contents.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{name} is not a strokebot training checkpoint (format {contents.get('format')!r}, "
                              f"version {contents.get('version')!r})")
    if contents.get("kind") != kind:
        raise CheckpointError(f"{name} is from training a {contents.get('kind')!r} painter, not {kind!r}")
    return contents


def _check_resumable(saved: dict[str, Any], data_info: dict[str, Any], path: Any) -> None:
    """A ``CheckpointError`` unless the checkpoint was trained on these strokes."""
    name = f"checkpoint {str(path)!r}"
    for key, value in data_info.items():
        if saved["data"].get(key) != value:
            raise CheckpointError(f"{name} was trained on other strokes ({key} {saved['data'].get(key)!r}, "
                                  f"now {value!r})")
