"""The printed reference board: a ChArUco board of known size that gives a photo its frame in mm.

It is printed on an ordinary (paper) printer, so its markers are filled; the machine never draws it, so
the machine's own scale and skew show against it. Printed at 100 %, its squares are 20 mm: a 100 mm
ruler line on the sheet lets the user check the print.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BOARD_SQUARES = (7, 5)  # columns, rows
SQUARE_MM = 20.0
MARKER_MM = 15.0
BOARD_DICTIONARY = "DICT_5X5_100"  # not the sheet's 4x4 markers, so the two are never confused
RASTER_MM = 0.1  # the board is drawn on a 0.1 mm grid: its squares and marker cells fall on it exactly
RULER_MM = 100.0
MIN_BOARD_CORNERS = 8


class BoardNotFound(ValueError):
    """A photo in which the reference board cannot be found well enough to give a frame in mm."""


def charuco_board() -> cv2.aruco.CharucoBoard:
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, BOARD_DICTIONARY))
    return cv2.aruco.CharucoBoard(BOARD_SQUARES, SQUARE_MM, MARKER_MM, dictionary)


def board_size_mm() -> tuple[float, float]:
    return BOARD_SQUARES[0] * SQUARE_MM, BOARD_SQUARES[1] * SQUARE_MM


def board_image(px_per_mm: float) -> np.ndarray:
    """The board as a grey image (1 white, 0 black) at ``px_per_mm``, corners of the board at the edges."""
    w, h = board_size_mm()
    fine = charuco_board().generateImage((round(w / RASTER_MM), round(h / RASTER_MM)), marginSize=0, borderBits=1)
    size = (round(w * px_per_mm), round(h * px_per_mm))
    return cv2.resize(fine.astype(np.float32) / 255, size, interpolation=cv2.INTER_AREA)


def board_svg() -> str:
    """The board as SVG in mm, for printing: filled black rectangles, a 100 mm ruler, and how to print it."""
    w, h = board_size_mm()
    fine = charuco_board().generateImage((round(w / RASTER_MM), round(h / RASTER_MM)), marginSize=0, borderBits=1) < 128
    margin, ruler_y = 15.0, h + 25.0
    page_w, page_h = w + 2 * margin, h + 45.0 + margin
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{page_w:g}mm" height="{page_h:g}mm" '
        f'viewBox="0 0 {page_w:g} {page_h:g}">',
        "<title>strokebot calibration reference board</title>",
        f'<g transform="translate({margin:g},{margin:g})" fill="black" stroke="none">',
    ]
    for y0, y1, x0, x1 in _rectangles(fine):
        out.append(f'<rect x="{x0 * RASTER_MM:.1f}" y="{y0 * RASTER_MM:.1f}" width="{(x1 - x0) * RASTER_MM:.1f}" '
                   f'height="{(y1 - y0) * RASTER_MM:.1f}"/>')
    out.append("</g>")
    ticks = "".join(f'<line x1="{margin + t:g}" y1="{ruler_y - (4 if t % 50 == 0 else 2):g}" x2="{margin + t:g}" '
                    f'y2="{ruler_y:g}"/>' for t in range(0, int(RULER_MM) + 1, 10))
    out += [
        f'<g stroke="black" stroke-width="0.3"><line x1="{margin:g}" y1="{ruler_y:g}" x2="{margin + RULER_MM:g}" '
        f'y2="{ruler_y:g}"/>{ticks}</g>',
        f'<text x="{margin:g}" y="{ruler_y + 7:g}" font-family="sans-serif" font-size="4">'
        f"Print at 100 % (no fit to page). This line is {RULER_MM:g} mm and the squares are {SQUARE_MM:g} mm: "
        "check with a ruler.</text>",
        f'<text x="{margin:g}" y="{ruler_y + 13:g}" font-family="sans-serif" font-size="4">'
        f"strokebot reference board: ChArUco {BOARD_SQUARES[0]} x {BOARD_SQUARES[1]}, {BOARD_DICTIONARY}, "
        f"board {w:g} x {h:g} mm. Lay it flat beside the sheet.</text>",
        "</svg>",
    ]
    return "\n".join(out) + "\n"


def _rectangles(black: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The black pixels as rectangles (y0, y1, x0, x1): runs in each row, merged down while they repeat."""
    open_runs: dict[tuple[int, int], int] = {}
    done = []
    for y in range(black.shape[0] + 1):
        row = black[y] if y < black.shape[0] else np.zeros(black.shape[1], bool)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
        runs = set(zip(edges[::2].tolist(), edges[1::2].tolist()))
        for run in list(open_runs):
            if run not in runs:
                done.append((open_runs.pop(run), y, *run))
        for run in runs:
            open_runs.setdefault(run, y)
    return done


@dataclass(frozen=True)
class BoardFrame:
    """The board's corners found in a photo (image px and board mm), the homography they give, its fit."""

    image_to_mm: np.ndarray  # 3x3
    image_px: np.ndarray  # (n, 2)
    board_mm: np.ndarray  # (n, 2)
    rms_px: float

    @property
    def corners(self) -> int:
        return len(self.image_px)


def find_board(gray: np.ndarray) -> BoardFrame:
    """The board's chessboard corners in ``gray`` (uint8), sub-pixel, and the homography they give."""
    board = charuco_board()
    detector = cv2.aruco.CharucoDetector(board)
    corners, ids, _, _ = detector.detectBoard(gray)
    n = 0 if ids is None else len(ids)
    if n < MIN_BOARD_CORNERS:
        raise BoardNotFound(f"found {n} of the reference board's {len(board.getChessboardCorners())} corners "
                            f"(at least {MIN_BOARD_CORNERS} are needed): lay the printed board flat beside the sheet, "
                            "all of it in the photo, evenly lit, or measure a flatbed scan with --scan-dpi")
    image_pts = corners.reshape(-1, 2).astype(np.float64)
    board_pts = board.getChessboardCorners()[ids.ravel(), :2].astype(np.float64)
    h, _ = cv2.findHomography(image_pts, board_pts, 0)
    projected = cv2.perspectiveTransform(board_pts.reshape(-1, 1, 2), np.linalg.inv(h)).reshape(-1, 2)
    rms = float(np.sqrt(np.mean(np.sum((projected - image_pts) ** 2, axis=1))))
    return BoardFrame(image_to_mm=h, image_px=image_pts, board_mm=board_pts, rms_px=rms)
