"""Fit settings that draw well on a given machine: the fit size, stroke count and length from its pen and paper.

- Size: the pen is ``PEN_PX`` fit pixels wide, so the optimiser renders lines as wide as the pen draws them
  (its render is then a line drawing, not a grey photograph), capped for time: at ``MAX_SIZE_PX``, and so
  that the picture's ink, as a line one pen wide, is at most ``MAX_INK_PX`` fit pixels long (every step
  renders that line: a pen narrower than a pixel makes it long).
- Stroke length: ``STROKE_LENGTH_MM`` on the paper (about a feature's size on an A4 portrait: an eye, a
  letter), at least ``MIN_STROKE_PENS`` pen widths.
- Stroke count: the ink the picture asks for (its mean darkness times the paper it covers) divided by the
  ink of one stroke (pen width times stroke length), between ``MIN_STROKES`` and ``MAX_STROKES`` for time.

Numbers chosen on examples/astronaut.png and benchmarks/photos (``benchmarks/bench_defaults.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from calibration import MachineProfile

PEN_PX = 1.0  # fit pixels per pen width
MIN_SIZE_PX = 64
MAX_SIZE_PX = 400  # the fit renders the whole picture at every step: time grows with the size's square
MAX_INK_PX = 200_000  # the fit's time follows the ink's length in fit pixels (A4, 0.5 mm pen, a photo: ~80,000)
STROKE_LENGTH_MM = 6.0
MIN_STROKE_PENS = 8.0
MIN_STROKES = 100
MAX_STROKES = 8000  # every stroke is about six G-code lines to plan, stream and simulate
DEFAULT_ITERS = 200
COVERAGE_THUMBNAIL_PX = 64


@dataclass(frozen=True)
class FitDefaults:
    """Fit settings derived from a machine's pen and paper and the picture's ink."""

    size_px: int
    strokes: int
    stroke_length_mm: float
    pen_width_px: float  # at size_px
    ink_coverage: float  # the picture's mean darkness, 0 (white) to 1 (black)
    drawn_mm: tuple[float, float]  # the paper the picture covers (w, h)


def derive_defaults(profile: MachineProfile, picture_px: tuple[int, int], ink_coverage: float) -> FitDefaults:
    """The size, stroke count and length for a picture of ``picture_px`` (w, h) drawn by ``profile``'s pens."""
    width, height = picture_px
    area = profile.work_area
    mm_per_picture_px = min(area.drawing_width_mm / width, area.drawing_height_mm / height)
    drawn_mm = (width * mm_per_picture_px, height * mm_per_picture_px)
    pen_mm = min(pen.width_mm for pen in profile.pens)
    ink_mm2 = ink_coverage * drawn_mm[0] * drawn_mm[1]
    # the ink as a line one pen wide is ink_mm2 / pen_mm long, and (size / longer side) of it is one fit pixel
    ink_size_px = MAX_INK_PX * pen_mm * max(drawn_mm) / max(ink_mm2, 1e-9)
    size_px = _clip(round(min(max(drawn_mm) * PEN_PX / pen_mm, ink_size_px)), MIN_SIZE_PX, MAX_SIZE_PX)
    length_mm = max(STROKE_LENGTH_MM, MIN_STROKE_PENS * pen_mm)
    strokes = _clip(round(ink_mm2 / (pen_mm * length_mm)), MIN_STROKES, MAX_STROKES)
    return FitDefaults(size_px, strokes, length_mm, pen_mm * size_px / max(drawn_mm), ink_coverage, drawn_mm)


def _clip(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def picture_ink(path: str | Path, colour: bool) -> tuple[tuple[int, int], float]:
    """A picture's size (w, h) and mean darkness (for colour: of its most absorbed channel, as the fit places ink)."""
    from strokeopt.image import load_grayscale, load_rgb

    pixels = (load_rgb if colour else load_grayscale)(path, COVERAGE_THUMBNAIL_PX)
    darkness = 1.0 - pixels
    if colour:
        darkness = darkness.max(axis=0)
    with Image.open(path) as img:
        size = img.size
    return size, float(darkness.clip(0.0, 1.0).mean())


def describe(defaults: FitDefaults) -> str:
    """One line saying what was derived and from what."""
    w, h = defaults.drawn_mm
    return (f"{defaults.strokes} strokes of about {defaults.stroke_length_mm:g} mm at {defaults.size_px} px "
            f"(pen {defaults.pen_width_px:.2f} px; {w:.0f} x {h:.0f} mm of paper, ink {defaults.ink_coverage:.0%})")
