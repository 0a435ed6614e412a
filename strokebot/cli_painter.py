"""``strokebot painter``: make stroke data with MyPaint, train neural painters, measure them, list them.

Each subcommand is one function here; the work lives in ``strokeopt.painters``.
"""

from __future__ import annotations

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
