"""Synthetic scans and photos of a drawn calibration sheet, to test the measure step against known errors.

A miscalibrated machine is played on the pattern's polylines (backlash per axis as a dead band, then an
affine map: scale per axis, skew, rotation, offset), the strokes are rasterised at a pen width, and the
page is then "scanned" (known dpi, small rotation on the glass, blur, noise) or "photographed" beside the
printed reference board (perspective, uneven light, paper texture, blur, noise). Deterministic by seed.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from calibration.machine import MachineError, affine_matrix  # noqa: F401 (where they used to live)
from calibration.pattern import machine_to_page
from calibration.profile import WorkArea


def play_machine(strokes: Sequence[np.ndarray], error: MachineError) -> list[np.ndarray]:
    """Where the pen really goes, stroke by stroke, drawn in this order (travel between them included)."""
    backlash = np.array([error.backlash_x_mm, error.backlash_y_mm])
    carriage = None
    out = []
    for stroke in strokes:
        drawn = []
        for point in np.asarray(stroke, dtype=float):
            if carriage is None:
                carriage = point - backlash / 2  # as if it had arrived moving +X and +Y
            ahead = point - carriage > backlash / 2
            behind = carriage - point > backlash / 2
            carriage = np.where(ahead, point - backlash / 2, np.where(behind, point + backlash / 2, carriage))
            drawn.append(carriage.copy())
        out.append(np.asarray(drawn) @ error.matrix().T + [error.offset_x_mm, error.offset_y_mm])
    return out


def shuffled(strokes: Sequence[np.ndarray], seed: int) -> list[np.ndarray]:
    """The strokes in a random order, each maybe reversed: as a planner might draw them."""
    rng = np.random.default_rng(seed)
    return [s[::-1] if rng.random() < 0.5 else s for s in (strokes[i] for i in rng.permutation(len(strokes)))]


def rasterise(strokes: Sequence[np.ndarray], area: WorkArea, px_per_mm: float, pen_width_mm: float,
              ink: float = 0.9) -> np.ndarray:
    """The work area as a grey page (1 paper, 1 - ink where covered), strokes in machine mm, antialiased.

    Coverage is exact for a round-ended pen of ``pen_width_mm`` up to a pixel's antialiasing ramp.
    """
    h, w = round(area.height_mm * px_per_mm), round(area.width_mm * px_per_mm)
    cover = np.zeros((h, w), np.float32)
    half = pen_width_mm * px_per_mm / 2
    for stroke in strokes:
        page = machine_to_page(area, stroke) * px_per_mm - 0.5  # pixel centres at integers
        for p, q in zip(page[:-1], page[1:]):
            lo = np.floor(np.minimum(p, q) - half - 1).astype(int).clip(0, [w, h])
            hi = np.ceil(np.maximum(p, q) + half + 2).astype(int).clip(0, [w, h])
            if (hi <= lo).any():
                continue
            ys, xs = np.mgrid[lo[1]:hi[1], lo[0]:hi[0]].astype(np.float32)
            d = q - p
            t = np.clip(((xs - p[0]) * d[0] + (ys - p[1]) * d[1]) / max(d @ d, 1e-12), 0, 1)
            dist = np.hypot(xs - p[0] - t * d[0], ys - p[1] - t * d[1])
            c = np.clip(half + 0.5 - dist, 0, 1)
            window = cover[lo[1]:hi[1], lo[0]:hi[0]]
            np.maximum(window, c, out=window)
    return 1.0 - ink * cover


def _degrade(image: np.ndarray, rng: np.random.Generator, blur_px: float, noise: float) -> np.ndarray:
    if blur_px > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur_px)
    image = image + rng.normal(0, noise, image.shape).astype(np.float32)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def synth_scan(page: np.ndarray, px_per_mm: float, dpi: float, rotation_deg: float = 1.5,
               blur_px: float = 0.7, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    """A flatbed scan at ``dpi`` of ``page`` (rastered at ``px_per_mm``): turned on the glass, blurred, noisy."""
    rng = np.random.default_rng(seed)
    scale = dpi / 25.4 / px_per_mm
    h, w = page.shape
    out_w, out_h = int(w * scale * 1.1), int(h * scale * 1.1)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rotation_deg, scale)
    m[:, 2] += [out_w / 2 - w / 2, out_h / 2 - h / 2]
    glass = cv2.warpAffine(page.astype(np.float32), m, (out_w, out_h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                           borderValue=0.97)
    return _degrade(glass, rng, blur_px, noise)


def synth_photo(page: np.ndarray, page_px_per_mm: float, board: np.ndarray | None, size_px: tuple[int, int],
                tilt: float = 0.15, light: float = 0.25, blur_px: float = 0.8, noise: float = 0.02,
                seed: int = 0) -> np.ndarray:
    """A phone photo of ``page`` on a table with ``board`` (same px/mm) beside it, seen at an angle.

    The table plane is laid out in mm (sheet at the origin turned a little, board to its right), then
    projected by a homography that foreshortens by ``tilt``; light falls off by ``light`` across the picture.
    """
    rng = np.random.default_rng(seed)
    if board is not None:  # printed on paper: a white margin around it
        board = np.pad(board, int(8 * page_px_per_mm), constant_values=1.0)
    ph, pw = page.shape
    bh, bw = board.shape if board is not None else (0, 0)
    gap = int(10 * page_px_per_mm)
    table_w, table_h = pw + gap + bw + 2 * gap, max(ph, bh) + 2 * gap
    table = np.full((table_h, table_w), 0.55, np.float32)  # a grey table
    turn = cv2.getRotationMatrix2D((pw / 2, ph / 2), 1.0, 1.0)
    turn[:, 2] += gap
    sheet_mask = cv2.warpAffine(np.ones_like(page, np.float32), turn, (table_w, table_h))
    sheet = cv2.warpAffine(page.astype(np.float32), turn, (table_w, table_h))
    table = table * (1 - sheet_mask) + sheet
    if board is not None:
        y0, x0 = gap + (ph - bh) // 2, gap + pw + gap
        table[y0:y0 + bh, x0:x0 + bw] = board
    texture = cv2.GaussianBlur(rng.normal(0, 1, table.shape).astype(np.float32), (0, 0), 2.0)
    table *= 1 + 0.01 * texture / max(float(texture.std()), 1e-6)
    out_w, out_h = size_px
    src = np.float32([[0, 0], [table_w, 0], [table_w, table_h], [0, table_h]])
    inset = np.float32([[tilt, 0.02], [1 - tilt, 0.02], [0.98, 0.98], [0.02, 0.98]])
    homography = cv2.getPerspectiveTransform(src, inset * np.float32([out_w, out_h]))
    photo = cv2.warpPerspective(table, homography, (out_w, out_h), flags=cv2.INTER_AREA, borderValue=0.3)
    yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    light = 1.0 - light * (xx / out_w) - 0.4 * light * (yy / out_h)
    return _degrade(photo * light, rng, blur_px, noise)
