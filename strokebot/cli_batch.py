"""``strokebot batch``: fit and plan a folder of pictures, each into its own folder, on local processes or Ray.

The work lives in ``strokebot.batch``; this is its options, its lines of output and its progress bar.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import click

from calibration import load_profile
from robot.host.progress import progress_bar
from strokebot import batch as batching
from strokebot.cli_common import StrokebotFailure
from strokebot.cli_fit import fit_options, fit_options_from


@click.command()
@click.argument("in_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the outputs: OUT/NAME/ for each picture NAME.png (strokes.svg, render.png, fit.json, "
                   "drawing.gcode, plan.json, and done.json once finished).")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="Local worker processes, each fitting one picture at a time on its share of the cores "
                   "(default: one per two cores). With --ray: the most pictures on the cluster at once (default: "
                   "two per CPU of the cluster).")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Run the pictures as tasks on a Ray cluster: 'local' starts one on this machine for the batch, "
                   "'auto' joins the one running here, or ray://HOST:10001 (needs pip install 'strokebot[ray]', "
                   "and strokebot on every node).")
@fit_options
def batch(in_dir: Path, out_dir: Path, workers: int | None, ray_address: str | None, profile_path: Path | None,
          **kwargs) -> None:
    """Fit and plan every picture in IN_DIR (png, jpg, jpeg, webp, bmp, tif; not in subfolders), each into its own
    folder OUT/NAME/, as `strokebot fit` and `strokebot plan` would.

    A picture is finished when OUT/NAME/done.json is written, last, with the settings it was made with: a batch
    run again skips finished pictures and redoes the rest, so a stopped batch goes on where it was. A picture
    finished with other settings (options, profile) or changed since is redone. A picture that cannot be read
    is reported at the end and the others are done; the command then exits with status 2. The same --seed gives
    each picture the same strokes whatever the number of workers, and on Ray.

    \b
    Examples:
      strokebot batch photos/ -o drawings/ --strokes 1500 --iters 200
      strokebot batch photos/ -o drawings/ --workers 4
      strokebot batch photos/ -o drawings/ --ray auto
    """
    profile = load_profile(profile_path)
    if ray_address is not None:
        try:
            batching.import_ray()  # not installed: one line, before any work
        except batching.RayMissingError as exc:
            raise StrokebotFailure(str(exc)) from None
    images = batching.find_images(in_dir)
    options = dataclasses.replace(fit_options_from(kwargs), progress=False)  # one bar: the batch's
    settings = batching.batch_settings(profile, options)
    plan = batching.plan_batch(images, out_dir, settings)
    skipped = f"{len(plan.finished)} skipped (finished)"
    if not plan.todo:
        click.echo(f"nothing to do: {_images(len(images))}, {skipped} -> {out_dir}")
        return
    if ray_address is not None:
        results = partial(batching.run_ray, profile=profile, options=options, address=ray_address,
                          in_flight=workers)
        where = f"Ray ({ray_address})"
    else:
        workers = min(workers or batching.default_workers(), len(plan.todo))
        threads = batching.threads_per_worker(workers)
        results = partial(batching.run_local, profile=profile, options=options, workers=workers, threads=threads)
        where = f"{workers} local worker{'s' * (workers > 1)} of {threads} thread{'s' * (threads > 1)}"
    changed = f" ({len(plan.changed)} made with other settings: redone)" if plan.changed else ""
    click.echo(f"{_images(len(images))}: {skipped}, {len(plan.todo)} to do{changed} on {where}", err=True)

    finished = 0
    bar = progress_bar(total=len(plan.todo), enabled=not kwargs["quiet"], desc="batch", unit="image")

    def advance(job: batching.ImageJob, result: batching.ImageResult) -> None:
        nonlocal finished
        finished += result.error is None
        bar.update(1)

    try:
        outcome = batching.run_batch(plan, settings, results, on_result=advance)
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"stopped: {finished} of {len(plan.todo)} images finished; the same command goes on with the "
                   "rest", err=True)
        raise
    except batching.WorkerDiedError as exc:
        bar.close()
        raise StrokebotFailure(str(exc)) from None
    bar.close()
    for name, reason in outcome.failed:
        click.echo(f"strokebot: error: {name}: {reason}", err=True)
    also = f", {skipped}" if plan.finished else ""
    summary = (f"{_images(len(outcome.done))} fitted and planned in {outcome.seconds:.1f} s "
               f"({outcome.images_per_min:.1f} images/min){also} -> {out_dir}")
    if outcome.failed:
        raise StrokebotFailure(f"{len(outcome.failed)} of {len(plan.todo)} images failed (listed above); "
                               f"{summary}")
    click.echo(summary)


def _images(count: int) -> str:
    """"1 image", "3 images"."""
    return f"{count} image{'s' * (count != 1)}"
