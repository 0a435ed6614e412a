"""``strokebot painter``: make stroke data with MyPaint, train neural painters, measure them, list them.

Each subcommand is one function here; the work lives in ``strokeopt.painters``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


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
              help="Canvas side in pixels.")
@click.option("--brush", default=None, help="MyPaint brush, e.g. classic/dry_brush, or a .myb file "
              "(see `strokebot painter brushes`). Default: classic/bulk.")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True,
              help="Random seed; same seed, same strokes.")
@click.option("--shard-size", type=click.IntRange(1, 100_000), default=2000, show_default=True,
              help="Strokes per shard file.")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="Processes painting in parallel. Default: one per CPU core.")
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
