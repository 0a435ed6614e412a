"""Fill numba's on-disk caches, so the first `strokebot fit` or `strokebot plan` a user runs compiles nothing.

    .venv/bin/python -m strokebot.warm

The CPU kernels (``strokeopt.raster_cpu``, ``strokeopt.painters.guided``) are compiled with ``cache=True``:
numba keeps the machine code in the ``__pycache__`` beside each module, keyed by the source file and the CPU.
This runs one tiny fit (a generated 32-px image, in a temporary directory) per configuration that reaches a
different kernel or argument type, the same command a user runs, so every kernel a fit can call is compiled
once and stored; then plans of their SVGs reach the planner's kernels (``gcode.order``: the ordering of
many lines and the exact one of a few; ``gcode.arcs`` with ``--arcs``). `make` runs it after installing; it writes nothing outside the caches and the temporary
directory.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from strokeopt.strokes import PRIMITIVES

WARM_SIZE_PX = 32
# (extra `strokebot fit` arguments): every primitive through the soft renderer's ink kernels, opaque paint
# through its coverage kernels, and the guided painter (quadratic and line strokes)
CONFIGURATIONS: tuple[tuple[str, ...], ...] = (
    *(("--primitive", primitive) for primitive in PRIMITIVES),
    ("--paint", "--compositing", "over"),
    ("--paint", "--compositing", "ink"),
    ("--renderer", "neural:guided", "--primitive", "quadratic"),
    ("--renderer", "neural:guided", "--primitive", "line"),
)


# (fit index, extra `strokebot plan` arguments): 16 lines ordered by the heuristic, cubics fitted with arcs
PLANS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (PRIMITIVES.index("line"), ()),
    (PRIMITIVES.index("cubic"), ("--arcs",)),
)
FEW_LINES_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="20mm" height="20mm" viewBox="0 0 20 20">'
                 '<path d="M 1,1 L 5,5"/><path d="M 9,2 L 12,8"/><path d="M 15,15 L 18,3"/></svg>')  # exact order


class WarmUpError(RuntimeError):
    """A warm-up command did not finish."""


def warm_image(path: Path) -> None:
    """A small RGB gradient with some structure, so every kernel sees ink and gradients."""
    y, x = np.mgrid[:WARM_SIZE_PX, :WARM_SIZE_PX]
    grey = 127.5 + 127.5 * np.sin(x / 3.0) * np.cos(y / 5.0)
    rgb = np.stack([grey, np.roll(grey, 7, axis=1), grey[::-1]], axis=-1)
    Image.fromarray(rgb.astype(np.uint8)).save(path)


def fit_arguments(image: Path, out: Path, extra: tuple[str, ...]) -> list[str]:
    """The `strokebot fit` command line of one warm-up fit."""
    return ["fit", str(image), "-o", str(out), "--size", str(WARM_SIZE_PX), "--strokes", "16", "--iters", "2",
            "--device", "cpu", "--quiet", *extra]


def warm() -> float:
    """Run every warm-up fit; returns the seconds taken. Raises WarmUpError if a fit fails."""
    from strokebot.cli import cli  # the fit command as the user runs it

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="strokebot-warm-") as tmp:
        image = Path(tmp) / "warm.png"
        warm_image(image)
        commands = [fit_arguments(image, Path(tmp) / f"fit{index}", extra)
                    for index, extra in enumerate(CONFIGURATIONS)]
        commands += [["plan", str(Path(tmp) / f"fit{index}" / "strokes.svg"), "-o", str(Path(tmp) / f"plan{index}.gcode"),
                      *extra] for index, extra in PLANS]
        few = Path(tmp) / "few.svg"
        few.write_text(FEW_LINES_SVG)
        commands.append(["plan", str(few), "-o", str(Path(tmp) / "few.gcode")])
        for arguments in commands:
            said = io.StringIO()  # each command's summary and notices: shown only when it fails
            with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
                code = cli.main(args=arguments, prog_name="strokebot", standalone_mode=False)
            if code:
                raise WarmUpError(f"warm-up command failed with status {code}: strokebot {' '.join(arguments)}\n"
                                  f"{said.getvalue()}")
    return time.perf_counter() - t0


def main() -> None:
    """Warm the caches and say how long it took."""
    seconds = warm()
    print(f"strokebot.warm: numba kernels compiled (or found in their caches) in {seconds:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
