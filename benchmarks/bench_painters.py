"""Neural painters against the real brush: train each kind for the same wall time on the same strokes,
then measure them on held-out strokes (a seed never used in training) with the commands users run.

    .venv/bin/python benchmarks/bench_painters.py --train /tmp/painters/train --held-out /tmp/painters/held_out \
        --wall-time 480 --out /tmp/painters/trained

Makes the datasets first when the folders do not exist (``strokebot painter dataset``), trains with
``strokebot painter train --time-limit`` and measures with ``strokebot painter eval``, each in a fresh
process. Prints a Markdown table for docs/benchmarks.md and writes examples/figure_painters.png: real
strokes beside each painter's (as in Nakano's Figures 3 and 5). ``--shipped`` measures the painters
that ship with strokebot instead of training new ones.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
STROKEBOT = [sys.executable, "-c", "from strokebot.cli import main; main()"]
KINDS = ("vae", "gan", "guided")
FIGURE = ROOT / "examples" / "figure_painters.png"
FIGURE_STROKES = 10


def run(args: list[str]) -> tuple[str, float]:
    """Run ``strokebot ARGS`` in a fresh process; its standard output and wall time."""
    started = time.perf_counter()
    done = subprocess.run([*STROKEBOT, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"strokebot {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout, time.perf_counter() - started


def ensure_dataset(folder: Path, strokes: int, seed: int) -> None:
    if not (folder / "manifest.json").is_file():
        out, seconds = run(["painter", "dataset", "-o", str(folder), "--strokes", str(strokes), "--seed", str(seed),
                            "--quiet"])
        print(f"dataset {folder}: {out.strip()} ({seconds:.1f} s)")


def figure(painters: dict[str, Path], held_out: Path, out: Path) -> None:
    """Rows: the real strokes, then each painter's strokes for the same actions."""
    from strokeopt.painters.dataset import load_dataset
    from strokeopt.painters.library import load_named_painter

    data = load_dataset(held_out, limit=200)
    pick = np.random.default_rng(0).choice(len(data.actions), FIGURE_STROKES, replace=False)
    actions = torch.as_tensor(data.actions[pick], dtype=torch.float32)
    rows = [("MyPaint", data.images[pick])]
    for name, path in painters.items():
        painter, _ = load_named_painter(str(path))
        with torch.no_grad():
            painted = painter(actions).clamp(0, 1).permute(0, 2, 3, 1).numpy()
        rows.append((name, np.rint(painted * 255).astype(np.uint8)))
    size = data.images.shape[1]
    scale = max(1, 96 // size)
    cell, label_w = size * scale + 4, 90
    sheet = Image.new("RGB", (label_w + cell * FIGURE_STROKES, cell * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (name, images) in enumerate(rows):
        draw.text((6, r * cell + cell // 2 - 6), name, fill="black")
        for c, image in enumerate(images):
            tile = Image.fromarray(image).resize((size * scale, size * scale), Image.Resampling.NEAREST)
            sheet.paste(tile, (label_w + c * cell + 2, r * cell + 2))
            draw.rectangle([label_w + c * cell + 1, r * cell + 1, label_w + (c + 1) * cell - 2,
                            (r + 1) * cell - 2], outline=(200, 200, 200))
    sheet.save(out)
    print(f"figure -> {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, default=Path("/tmp/painters/train"))
    parser.add_argument("--held-out", type=Path, default=Path("/tmp/painters/held_out"))
    parser.add_argument("--train-strokes", type=int, default=60000)
    parser.add_argument("--held-out-strokes", type=int, default=2000)
    parser.add_argument("--wall-time", type=float, default=480.0, help="training seconds for every kind")
    parser.add_argument("--out", type=Path, default=Path("/tmp/painters/trained"))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--shipped", action="store_true", help="measure the shipped painters, train nothing")
    parser.add_argument("--no-figure", action="store_true")
    args = parser.parse_args()

    ensure_dataset(args.held_out, args.held_out_strokes, seed=999)
    painters: dict[str, Path | str] = {}
    if args.shipped:
        painters = {kind: f"neural:{kind}" for kind in args.kinds}
    else:
        ensure_dataset(args.train, args.train_strokes, seed=0)
        args.out.mkdir(parents=True, exist_ok=True)
        for kind in args.kinds:
            path = args.out / f"{kind}.pt"
            out, seconds = run(["painter", "train", "--kind", kind, "--data", str(args.train), "-o", str(path),
                                "--time-limit", str(args.wall_time), "--steps", "1000000", "--seed", "0",
                                "--device", args.device, "--samples", str(args.out / f"samples-{kind}"), "--quiet"])
            print(f"trained {kind}: {out.strip()} ({seconds:.0f} s whole command)")
            painters[kind] = path
    results = {}
    for kind, spec in painters.items():
        out, seconds = run(["painter", "eval", str(spec), "--data", str(args.held_out), "--device", args.device])
        results[kind] = json.loads(out)
        print(f"eval {kind}: {out.strip()} ({seconds:.1f} s whole command)")
    print("\n| painter | MSE | IoU | texture ratio | fwd+bwd s / 1000 | device |")
    print("|---|---|---|---|---|---|")
    for kind, r in results.items():
        print(f"| {kind} | {r['mse']:.5f} | {r['iou']:.3f} | {r['texture_ratio']:.3f} | {r['seconds_per_1000']:.3f} "
              f"| {r['device']} |")
    if not args.no_figure:
        figure({kind: spec for kind, spec in painters.items()}, args.held_out, FIGURE)


if __name__ == "__main__":
    main()
