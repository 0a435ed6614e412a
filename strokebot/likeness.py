"""How much a drawing looks like its picture, judged on the paper: measures a line drawing cannot trivially max out.

The optimiser's own render at the fit resolution is no judge: with a pen narrower than a fit pixel it is
a smooth grey photograph, and any score of it against the target says little about the lines on paper.
These measures take the simulated drawing (what the pen draws, at a resolution where the pen is several
pixels wide) and the original picture, both resampled to ``VIEW_PX_PER_MM`` on the page, in grayscale
(what a person recognises a face by), and both seen through a viewing blur of ``VIEW_BLUR_MM``:

- ``view_ssim``: SSIM of the two blurred images. Hatching only reaches it when its density follows the
  picture's tones at the few-millimetre scale; a scribble of long lines, or lines in the wrong places, does not.
- ``edge_corr``: Pearson correlation of their gradient magnitudes (Sobel, after the blur): do the drawing's
  contours sit where the picture's are? A flat tone, or uniform hatching, scores about 0.

Both are computed at a scale fixed on the paper, not in fit pixels, so fits at different sizes compare fairly.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from strokeopt.metrics import ssim

VIEW_PX_PER_MM = 2.0  # the comparison's resolution on the page
VIEW_BLUR_MM = 1.0  # Gaussian sigma: hatching at a pitch of about 2 mm merges into tone (a page seen at ~1.5 m)


def view_image(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """An image as grayscale floats in [0, 1], box-resampled to ``size`` (w, h) and blurred by ``VIEW_BLUR_MM``."""
    gray = np.asarray(image.convert("L").resize(size, Image.Resampling.BOX), dtype=np.float64) / 255.0
    return ndimage.gaussian_filter(gray, VIEW_BLUR_MM * VIEW_PX_PER_MM, mode="nearest")


def view_size(page_mm: tuple[float, float]) -> tuple[int, int]:
    """The comparison's size in pixels (w, h) for a drawing ``page_mm`` (w, h) on the paper."""
    return max(16, round(page_mm[0] * VIEW_PX_PER_MM)), max(16, round(page_mm[1] * VIEW_PX_PER_MM))


def likeness(drawing: Image.Image, picture: Image.Image, page_mm: tuple[float, float]) -> dict[str, float]:
    """``view_ssim`` and ``edge_corr`` of a drawing that covers ``page_mm`` (w, h) of paper against its picture."""
    size = view_size(page_mm)
    seen, wanted = view_image(drawing, size), view_image(picture, size)
    return {"view_ssim": round(ssim(seen, wanted), 4), "edge_corr": round(_edge_correlation(seen, wanted), 4)}


def _edge_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the two images' Sobel gradient magnitudes (0 when either has no edges)."""
    ga = np.hypot(ndimage.sobel(a, axis=0), ndimage.sobel(a, axis=1)).ravel()
    gb = np.hypot(ndimage.sobel(b, axis=0), ndimage.sobel(b, axis=1)).ravel()
    ga, gb = ga - ga.mean(), gb - gb.mean()
    norm = float(np.sqrt((ga * ga).sum() * (gb * gb).sum()))
    return float((ga * gb).sum() / norm) if norm > 0 else 0.0
