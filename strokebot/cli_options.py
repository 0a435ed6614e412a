"""Click parameter types and limits shared by the ``strokebot`` commands and the ``painter`` group."""

from __future__ import annotations

import math

import click

MAX_SEED = 2**32 - 1  # what every random generator used (torch, numpy) takes
MAX_STROKES = 400_000  # `plan` reads an SVG of at most gcode.svg_scan.MAX_ELEMENTS (500,000) elements
MAX_STEPS = 100_000_000  # training steps, checkpoint and sample intervals: years of training at most


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that refuses nan and inf: click's own lets "nan" through (it compares false with both ends)."""

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number
