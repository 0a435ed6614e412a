"""Contact sheets in the manner of the papers' figures, fitted to the example photo.

    .venv/bin/python examples/figures.py primitives -o out/primitives.png   # lines vs curves vs dots
    .venv/bin/python examples/figures.py losses -o out/losses.png           # MSE vs VGG, shallow vs deep

Each panel is the optimiser's render with its settings and scores (blurred SSIM: both images blurred with
sigma 2 px, how hatching reads from a distance) written under it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from strokebot.files import write_png_atomic
from strokebot.preview import side_by_side, to_image
from strokeopt.image import load_grayscale
from strokeopt.metrics import gaussian_blur, psnr, ssim
from strokeopt.optimise import FitConfig, fit_strokes

PHOTO = Path(__file__).resolve().parent / "astronaut.png"

PRIMITIVE_RUNS = [
    ("1500 lines", dict(primitive="line", strokes=1500)),
    ("500 cubic Beziers", dict(primitive="cubic", strokes=500)),
    ("400 Catmull-Rom chains", dict(primitive="catmull-rom", strokes=400)),
    ("4000 dots", dict(primitive="dot", strokes=4000, stroke_width_px=2.5)),
]
LOSS_RUNS = [
    ("MSE", dict(loss="mse")),
    ("tone (blurred MSE)", dict(loss="tone")),
    ("VGG relu1_2 (shallow)", dict(loss="vgg", vgg_layers=("relu1_2",))),
    ("VGG relu3_3 (deeper)", dict(loss="vgg", vgg_layers=("relu3_3",))),
    ("content relu2_2 + tone", dict(loss="tone+0.05*content", content_layer="relu2_2")),
]


def blurred_scores(image: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    def blur(a: np.ndarray) -> np.ndarray:
        return gaussian_blur(torch.as_tensor(a, dtype=torch.float64), 2.0).numpy()

    return ssim(blur(image), blur(target)), psnr(blur(image), blur(target))


def sheet(runs: list[tuple[str, dict]], size: int, iters: int, seed: int) -> "PIL.Image.Image":
    target = load_grayscale(PHOTO, size)
    panels = [("target", to_image(target))]
    for title, settings in runs:
        config = FitConfig(**{"iters": iters, "seed": seed, "stroke_width_px": 1.0, "progress": False, **settings})
        result = fit_strokes(target, config)
        b_ssim, b_psnr = blurred_scores(result.render, target)
        panels.append((f"{title}: SSIM {b_ssim:.2f}, {b_psnr:.1f} dB", to_image(result.render)))
        print(f"{title}: {result.seconds:.1f} s, blurred SSIM {b_ssim:.3f}, blurred PSNR {b_psnr:.2f} dB")
    caption = f"{PHOTO.name} at {size} px, {iters} iterations, seed {seed}; scores on images blurred with sigma 2 px"
    return side_by_side(panels, caption)


def main() -> None:
    parser = argparse.ArgumentParser(description="Labelled contact sheets comparing primitives or losses.")
    parser.add_argument("figure", choices=["primitives", "losses"])
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    runs = PRIMITIVE_RUNS if args.figure == "primitives" else LOSS_RUNS
    write_png_atomic(args.out, sheet(runs, args.size, args.iters, args.seed))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
