"""``strokebot painter``: make stroke data with MyPaint, train neural painters, measure them, list them.

Each subcommand is one function here; the work lives in ``strokeopt.painters``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from strokebot.cli_options import MAX_SEED, MAX_STEPS, FiniteFloatRange
from strokebot.files import check_output_dir, check_output_file

MAX_LEARNING_RATE = 1.0  # Adam moves each weight by about lr a step: 1 already overshoots
MAX_TIME_LIMIT_S = 365 * 24 * 3600.0  # a year of training


@click.group()
def painter() -> None:
    """Neural painters: networks that imitate a real brush engine (MyPaint), for painterly strokes.

    \b
    strokebot painter dataset -o data/ --strokes 20000     # strokes painted by MyPaint
    strokebot painter train --kind guided --data data/ -o mine.pt
    strokebot painter eval mine.pt --data held_out/
    strokebot painter list                                  # the painters shipped with strokebot
    """


@painter.command("dataset")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Folder for the shards and manifest.json: new, empty, or a dataset made with the same settings "
                   "(then finished shards are kept and only the missing ones are painted).")
@click.option("--strokes", type=click.IntRange(1, 10_000_000), required=True,
              help="Strokes in the dataset (more than a finished dataset holds: new shards are added).")
@click.option("--size", "canvas_px", type=click.IntRange(16, 512), default=64, show_default=True,
              help="Canvas side in pixels, 16 to 512 (one stroke on each; the shipped painters use 64).")
@click.option("--brush", default=None, help="MyPaint brush, e.g. classic/dry_brush, or a .myb file "
              "(see `strokebot painter brushes`). Default: classic/bulk.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
              help="Random seed (0 to 2**32 - 1); same seed, same strokes.")
@click.option("--shard-size", type=click.IntRange(1, 100_000), default=2000, show_default=True,
              help="Strokes per shard file.")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="Processes painting in parallel (1024 at most). Default: one per CPU core.")
@click.option("--engine-noise", is_flag=True,
              help="Keep the engine's own randomness (one brush per shard, as in a painting session).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def dataset(out_dir: str, strokes: int, canvas_px: int, brush: str | None, seed: int, shard_size: int,
            workers: int | None, engine_noise: bool, quiet: bool) -> None:
    """Paint random strokes with MyPaint into a dataset for training neural painters.

    Writes OUT/shard-00000.npz, ... (actions, RGB images on white, alpha) and OUT/manifest.json, which is
    updated after every shard: run the same command again to resume an interrupted run.

    \b
    Example:
      strokebot painter dataset -o data/ --strokes 20000 --size 64
    """
    import time

    check_output_dir(out_dir)
    from strokeopt.painters.dataset import make_dataset
    from strokeopt.painters.mypaint import DEFAULT_BRUSH, MyPaintMissing

    painted = []
    t0 = time.perf_counter()
    try:
        manifest = make_dataset(out_dir, strokes, canvas_px=canvas_px, brush=brush or DEFAULT_BRUSH, seed=seed,
                                shard_size=shard_size, workers=workers, engine_noise=engine_noise,
                                progress=not quiet, on_shard=lambda shard: painted.append(shard.count))
    except MyPaintMissing as error:
        raise click.ClickException(str(error)) from None
    seconds = time.perf_counter() - t0
    made = sum(painted)
    rate = f"{made / max(seconds, 1e-9):.0f} strokes/s" if made else "nothing left to paint"
    click.echo(f"{manifest.strokes_present} strokes in {len(manifest.shards)} shards ({made} painted now) in "
               f"{seconds:.1f} s, {rate} -> {out_dir}")


@painter.command("train")
@click.option("--kind", required=True,
              help="Painter kind: vae or gan (Nakano 2019), guided, or any other registered kind.")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Dataset folder made by `strokebot painter dataset`.")
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Painter file to write (at the end, whole). Checkpoints go beside it as OUT.ckpt.")
@click.option("--steps", type=click.IntRange(1, MAX_STEPS), default=None,
              help="Training steps. Default: the kind's (about 10 minutes on a laptop CPU at 64 px), or the "
                   "resumed checkpoint's.")
@click.option("--batch", type=click.IntRange(1, 100_000), default=None,
              help="Strokes per step, shared among torchrun processes. Default: 64.")
@click.option("--lr", "learning_rate", type=FiniteFloatRange(0, MAX_LEARNING_RATE, min_open=True), default=None,
              help="Adam step size, above 0 and at most 1 (a step of 1 already overshoots). Default: the kind's.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to train; auto takes a CUDA GPU when there is one.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=None,
              help="Random seed (weights, batches, validation strokes; 0 to 2**32 - 1); same seed, same painter. "
                   "Default: 0.")
@click.option("--resume", "resume_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Continue from a checkpoint of the same kind, data, batch and seed; ends as an uninterrupted "
                   "run would.")
@click.option("--checkpoint-every", type=click.IntRange(0, MAX_STEPS), default=500, show_default=True,
              help="Write OUT.ckpt every N steps (0: only at the end).")
@click.option("--samples", "samples_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for sample grids: real strokes above painted ones, for fixed held-out strokes.")
@click.option("--sample-every", type=click.IntRange(1, MAX_STEPS), default=500, show_default=True,
              help="Write a sample grid every N steps (with --samples).")
@click.option("--time-limit", "time_limit_s", type=FiniteFloatRange(0, MAX_TIME_LIMIT_S, min_open=True),
              default=None, metavar="SECONDS",
              help="Stop after this much training time, a year at most (to give every kind the same time).")
@click.option("--limit", type=click.IntRange(1, 10_000_000), default=None,
              help="Use only the first N strokes of the dataset (a dataset holds 10000000 at most).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def painter_train(kind: str, data_dir: Path, out_file: Path, steps: int | None, batch: int | None,
                  learning_rate: float | None, device: str, seed: int | None, resume_file: Path | None,
                  checkpoint_every: int, samples_dir: Path | None, sample_every: int, time_limit_s: float | None,
                  limit: int | None, quiet: bool) -> None:
    """Train a neural painter on a stroke dataset and write it as a painter file.

    5 % of the strokes (at most 1000, chosen by the seed) are held out; their MSE is printed at the end.
    Under torchrun each process trains on its own share of every batch.

    \b
    Example:
      strokebot painter dataset -o data/ --strokes 20000
      strokebot painter train --kind vae --data data/ -o vae.pt --samples samples/
      strokebot painter train --kind vae --data data/ -o vae.pt --resume vae.pt.ckpt
      torchrun --nproc_per_node 2 "$(which strokebot)" painter train --kind gan --data data/ -o gan.pt
    """
    import shlex
    import sys

    check_output_file(out_file)
    check_output_file(out_file.with_name(out_file.name + ".ckpt"))
    if samples_dir is not None:
        check_output_dir(samples_dir)
    from strokeopt.painters.train import train_from_folder

    result = train_from_folder(
        data_dir, kind, out_file, limit=limit, steps=steps, batch=batch, learning_rate=learning_rate, device=device,
        seed=seed, resume=resume_file, checkpoint_every=checkpoint_every, samples_dir=samples_dir,
        sample_every=sample_every, progress=not quiet, time_limit_s=time_limit_s,
        command="strokebot " + shlex.join(sys.argv[1:]),
    )
    if result.rank != 0:  # under torchrun rank 0 alone reports (and wrote the file)
        return
    stopped = " (time limit)" if result.stopped_by_time_limit else ""
    click.echo(f"{kind} painter: {result.steps} steps{stopped} in {result.seconds:.0f} s on {result.device}, "
               f"validation MSE {result.val_mse:.5f} on {result.val_count} strokes -> {out_file} "
               f"(checkpoint {result.checkpoint_path})")


@painter.command("brushes")
def brushes() -> None:
    """List the installed MyPaint brushes (names for `--brush`), one per line."""
    from strokeopt.painters.mypaint import INSTALL_HINT, brush_names

    names = brush_names()
    if not names:
        raise click.ClickException(f"the MyPaint brushes are not installed; install them with: {INSTALL_HINT}")
    click.echo("\n".join(names))


@painter.command("eval")
@click.argument("painter_spec", metavar="PAINTER")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Held-out dataset folder (made with a seed never used in training).")
@click.option("--limit", type=click.IntRange(1, 10_000_000), default=None, help="Use only the first N strokes.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to run the painter; auto takes a CUDA GPU when there is one.")
def painter_eval(painter_spec: str, data_dir: Path, limit: int | None, device: str) -> None:
    """Measure PAINTER (a shipped name such as neural:guided, or a painter file) on held-out strokes.

    Prints one JSON object: mse (per pixel, RGB on white), iou (ink masks at coverage 0.5), texture_ratio
    (high-frequency energy over the real strokes'; 1 = as textured), seconds_per_1000 (forward + backward).

    \b
    Example:
      strokebot painter dataset -o held_out/ --strokes 2000 --seed 999
      strokebot painter eval neural:guided --data held_out/
    """
    from strokeopt.optimise import pick_device
    from strokeopt.painters.dataset import load_dataset
    from strokeopt.painters.library import load_named_painter
    from strokeopt.painters.measures import evaluate_painter

    chosen = pick_device(device)
    painter, metadata = load_named_painter(painter_spec, chosen)
    data = load_dataset(data_dir, limit=limit)
    if data.images.shape[1] != painter.canvas_px:
        raise click.ClickException(f"the painter paints {painter.canvas_px} px strokes but {data_dir} holds "
                                   f"{data.images.shape[1]} px strokes")
    scores = evaluate_painter(painter, data.actions, data.images, chosen)
    result = {"painter": painter_spec, "kind": metadata["kind"], "brush": metadata["brush"], **scores.as_dict()}
    click.echo(json.dumps(result))


@painter.command("list")
def painter_list() -> None:
    """The painters shipped with strokebot: name, kind, brush, canvas and how each was trained.

    \b
    Example:
      strokebot painter list
      strokebot fit photo.jpg -o out/ --renderer neural:guided --paint --primitive quadratic
    """
    from strokeopt.painters.library import load_named_painter, shipped_painters

    for name in shipped_painters():
        _, metadata = load_named_painter(name)
        training = metadata.get("training", {})
        click.echo(f"{name:16s} kind {metadata['kind']:7s} brush {metadata['brush']}  {metadata['canvas_px']} px  "
                   f"{training.get('steps', '?')} steps in {training.get('seconds', 0):.0f} s")
        click.echo(f"{'':16s} trained with: {metadata['command']}")


@painter.command("paint")
@click.argument("actions_file", metavar="ACTIONS", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="PNG to write: the strokes side by side, each on white.")
@click.option("--painter", "painter_spec", default="mypaint", show_default=True,
              help="mypaint (the real engine), a shipped painter (neural:guided, neural:gan, neural:vae) or a "
                   "painter file.")
@click.option("--brush", default=None, help="MyPaint brush for --painter mypaint. Default: classic/bulk.")
@click.option("--size", "canvas_px", type=click.IntRange(16, 512), default=64, show_default=True,
              help="Canvas side in pixels for --painter mypaint.")
def painter_paint(actions_file: Path, out_file: Path, painter_spec: str, brush: str | None, canvas_px: int) -> None:
    """Paint the strokes of ACTIONS (.npy, .json, or text with 12 numbers a row) to compare engines.

    Each action is 12 numbers in [0, 1]: start and end pressure, size, red, green, blue, then the start,
    control and end points (x, y) of a quadratic Bézier across the canvas.

    \b
    Example:
      echo "0.9 0.4 0.5 0.8 0.1 0.1 0.1 0.8 0.5 0.1 0.9 0.8" > stroke.txt
      strokebot painter paint stroke.txt -o real.png
      strokebot painter paint stroke.txt -o learned.png --painter neural:guided
    """
    check_output_file(out_file)
    import numpy as np
    from PIL import Image

    from strokebot.files import write_png_atomic
    from strokeopt.painters.actions import read_actions

    actions = read_actions(actions_file)
    if painter_spec == "mypaint":
        from strokeopt.painters.mypaint import DEFAULT_BRUSH, Brush, MyPaintMissing, MyPaintPainter

        try:
            with MyPaintPainter(Brush.load(brush or DEFAULT_BRUSH), canvas_px) as engine:
                images, _ = engine.paint(actions)
        except MyPaintMissing as error:
            raise click.ClickException(str(error)) from None
    else:
        import torch

        from strokeopt.painters.library import load_named_painter

        learned, _ = load_named_painter(painter_spec)
        with torch.no_grad():
            painted = learned(torch.as_tensor(actions, dtype=torch.float32)).clamp(0, 1)
        images = np.rint(painted.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
    columns = min(len(images), 16)
    rows = -(-len(images) // columns)
    size = images.shape[1]
    sheet = np.full((rows * (size + 2), columns * (size + 2), 3), 160, dtype=np.uint8)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        sheet[r * (size + 2) + 1:r * (size + 2) + 1 + size, c * (size + 2) + 1:c * (size + 2) + 1 + size] = image
    write_png_atomic(out_file, Image.fromarray(sheet))
    click.echo(f"{len(images)} strokes painted by {painter_spec} -> {out_file}")
