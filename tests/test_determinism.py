"""The same --seed gives the same strokes whatever the number of CPU threads (numba's and torch's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numba
import pytest
import torch

from strokeopt.render import SoftRasteriser, render_ink

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "astronaut.png"
THREADS = (1, 2)
STROKEBOT = Path(sys.executable).parent / "strokebot"  # the command a user runs, from this venv


def _fit_svg(out_dir: Path, threads: int, renderer: str, primitive: str) -> bytes:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    command = [str(STROKEBOT), "fit", str(EXAMPLE), "-o", str(out_dir),
               "--size", "32", "--strokes", "30", "--iters", "5", "--seed", "3", "--device", "cpu",
               "--renderer", renderer, "--primitive", primitive]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return (out_dir / "strokes.svg").read_bytes()


@pytest.mark.parametrize(("renderer", "primitive"), [("soft", "line"), ("soft", "cubic"),
                                                     ("neural:guided", "quadratic")])
def test_fit_strokes_do_not_depend_on_thread_count(tmp_path, renderer, primitive):
    svgs = {t: _fit_svg(tmp_path / f"threads{t}", t, renderer, primitive) for t in THREADS}
    assert svgs[1] == svgs[2]


def test_soft_raster_kernels_give_the_same_bits_with_any_thread_count():
    """Forward image and backward gradients of the numba path, bit for bit, at 1 to 3 threads."""
    g = torch.Generator().manual_seed(0)
    poly = (torch.rand(400, 3, 2, generator=g) * 96).requires_grad_()
    widths = torch.full((400,), 1.5, requires_grad=True)
    weights = torch.rand(96, 96, generator=g)
    raster = SoftRasteriser(96, 96, backend="numba")
    before = numba.get_num_threads()
    results = []
    try:
        for threads in range(1, min(3, numba.config.NUMBA_NUM_THREADS) + 1):
            numba.set_num_threads(threads)
            poly.grad = widths.grad = None
            image, ink = render_ink(raster, poly, widths, 1.0)
            (image * weights).sum().backward()
            results.append((image.detach(), ink, poly.grad.clone(), widths.grad.clone()))
    finally:
        numba.set_num_threads(before)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))
