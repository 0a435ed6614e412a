"""Measure a drawn calibration sheet: where its crosses really are, in a frame the machine did not draw.

Two frames: a flatbed scan at a known resolution (``scan_reference``: the scanner's pixel grid is the
ruler), or a photo that also shows the printed reference board (``photo_reference``: the board's
homography is the ruler). In both the sheet lies somewhere on the glass or table: its rotation and
position there are fitted with the affine map and then discarded, since they say nothing about the
machine. What remains (scale per axis, skew), and backlash, pen width and tone, belong to the machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.board import BoardFrame, find_board
from calibration.fit_affine import AffineFit, fit_affine, rigid_residuals_mm
from calibration.locate import Straightened, cross_centre, fit_line, mean_in, profile_across, straighten
from calibration.markers import MeasureError, find_sheet
from calibration.pattern import CalibrationPattern, axis_signs, machine_to_page

BLUR_LIMIT_MM = 0.4  # a line spread wider than this (one standard deviation) runs into its comb neighbours
MIN_CROSS_SHARE = 0.6  # at least this share of the crosses must be found


@dataclass(frozen=True)
class ScanReference:
    """A flatbed scan at ``dpi`` pixels to the inch, the same both ways: the scanner's pixels are the ruler."""

    dpi: float
    mode = "scan"
    placement = "the sheet's rotation and position on the scanner glass"

    @property
    def detail(self) -> str:
        return f"scan at {self.dpi:g} dpi"

    def image_to_q(self, cross_px: np.ndarray, cross_nominal_mm: np.ndarray, signs: np.ndarray) -> np.ndarray:
        """The 3x3 map from image px to mm with the machine's axis directions: the pixel pitch."""
        return np.diag([*signs, 1.0]) @ np.diag([25.4 / self.dpi, 25.4 / self.dpi, 1.0])


@dataclass(frozen=True, eq=False)
class PhotoReference:
    """A photo that shows the printed reference board beside the sheet: the board is the ruler."""

    board: BoardFrame
    mode = "photo"
    placement = "the sheet's rotation and position against the reference board"

    @property
    def detail(self) -> str:
        return f"photo, reference board from {self.board.corners} corners ({self.board.rms_px:.2f} px rms)"

    def image_to_q(self, cross_px: np.ndarray, cross_nominal_mm: np.ndarray, signs: np.ndarray) -> np.ndarray:
        """The 3x3 map from image px to board mm with the machine's axis directions.

        The camera's perspective is taken from the crosses, which spread over the whole sheet and differ
        from their nominal places by an affine map only (the machine's); the board, straightened by it,
        then needs to give only an affine map to mm, which it fixes well though it covers a small part
        of the picture (its own homography, extrapolated over the sheet, would not).
        """
        board_q = self.board.board_mm * signs
        perspective, _ = cv2.findHomography(cross_nominal_mm, cross_px, 0)  # nominal mm -> image px
        straight = cv2.perspectiveTransform(self.board.image_px.reshape(-1, 1, 2), np.linalg.inv(perspective))
        design = np.column_stack([board_q, np.ones(self.board.corners)])
        params, *_ = np.linalg.lstsq(design, straight.reshape(-1, 2), rcond=None)  # board (q) -> straightened
        to_straight = np.vstack([params.T, [0, 0, 1]])
        return np.linalg.inv(to_straight) @ np.linalg.inv(perspective)


Reference = ScanReference | PhotoReference


def scan_reference(dpi: float) -> ScanReference:
    """A flatbed scan: ``dpi`` pixels to the inch, the same in both directions."""
    return ScanReference(dpi)


def photo_reference(gray: np.ndarray) -> PhotoReference:
    """A photo showing the printed reference board: its corners, found in ``gray``, give board mm."""
    return PhotoReference(find_board(gray))


@dataclass(frozen=True, eq=False)
class Measurement:
    """Everything measured on one sheet; lengths in mm as drawn, machine axes."""

    mode: str  # "scan" or "photo", as written to corrections.toml
    reference: str  # the frame, in words
    placement: str  # what the discarded rotation and offset were
    fit: AffineFit
    nominal_residuals_mm: np.ndarray  # (n used, 2) the crosses' offsets from their commanded places, placement removed
    nominal_mm: np.ndarray  # (n, 2) machine mm of the crosses found
    crosses_total: int
    backlash_mm: dict[str, float]  # "x", "y"
    backlash_sigma_mm: dict[str, float]
    pen_width_mm: float
    pen_width_sigma_mm: float
    blur_mm: float
    solid_darkness: float
    tone_densities: tuple[float, ...]
    tone_darkness: tuple[float, ...]
    page: Straightened
    pattern: CalibrationPattern

    @property
    def nominal_rms_mm(self) -> float:
        """How far the crosses are from where they were commanded (RMS, the sheet's turn and shift removed)."""
        return float(np.sqrt(np.mean(np.sum(self.nominal_residuals_mm ** 2, axis=1))))


def measure(gray: np.ndarray, pattern: CalibrationPattern, reference: Reference, name: str = "the picture") -> Measurement:
    """Locate the sheet, its crosses, backlash pairs, comb and tone patches in ``gray`` (uint8) and fit them."""
    area = pattern.work_area
    pen = pattern.pen_width_mm
    frame = find_sheet(gray, pattern, name)
    page = straighten(gray, frame, area, _largest_dark_mm(pattern) + 4.0)
    signs = axis_signs(area)

    solid = mean_in(page, _inner_page_rect(pattern, pattern.solid.rect_mm), np.median)
    if solid < 0.2:
        raise MeasureError(f"the ink in {name} is hardly darker than the paper (solid patch {solid:.2f} dark): "
                           "light the sheet evenly, without glare, and expose for the paper")

    found, nominal = [], []
    weights = []
    for cross in pattern.crosses:
        centre = machine_to_page(area, cross.centre_mm)
        result = cross_centre(page, centre, cross.arm_mm, pen)
        if result is not None and np.hypot(*(result[0] - centre)) < cross.arm_mm / 2:
            found.append(result[0])
            nominal.append(cross.centre_mm)
            weights.append(result[1])
    weights = np.asarray(weights)
    strong = weights > 0.3 * np.median(weights) if len(weights) else np.zeros(0, bool)
    found, nominal = np.asarray(found)[strong], np.asarray(nominal)[strong]
    need = max(6, int(np.ceil(MIN_CROSS_SHARE * len(pattern.crosses))))
    if len(found) < need:
        raise MeasureError(f"found {len(found)} of the sheet's {len(pattern.crosses)} crosses in {name} (at least "
                           f"{need} are needed): scan or photograph the sheet sharper, flatter and evenly lit")
    image_to_q = reference.image_to_q(frame.to_image(found), nominal, signs)

    def to_q(page_mm: np.ndarray) -> np.ndarray:
        """Page mm on the straightened sheet -> reference mm, axes turned the machine's way."""
        return cv2.perspectiveTransform(frame.to_image(page_mm).reshape(-1, 1, 2), image_to_q).reshape(-1, 2)

    measured_q = to_q(found)
    fit = fit_affine(nominal, measured_q)
    nominal_residuals = rigid_residuals_mm(nominal[fit.used], measured_q[fit.used])

    pen_width, pen_sigma, blur = _pen_width(page, pattern, solid, to_q)
    if blur > BLUR_LIMIT_MM:
        raise MeasureError(f"{name} is too blurred to measure: its lines are spread over about {blur:.2f} mm "
                           f"(at most {BLUR_LIMIT_MM:.2f} mm); focus on the sheet, hold still, or scan it")
    backlash, backlash_sigma = _backlash(page, pattern, fit, to_q)
    tone = tuple(mean_in(page, _hatch_rect(pattern, p.rect_mm)) for p in pattern.tone)
    return Measurement(
        mode=reference.mode, reference=reference.detail, placement=reference.placement, fit=fit, nominal_residuals_mm=nominal_residuals,
        nominal_mm=nominal,
        crosses_total=len(pattern.crosses), backlash_mm=backlash, backlash_sigma_mm=backlash_sigma,
        pen_width_mm=pen_width, pen_width_sigma_mm=pen_sigma, blur_mm=blur, solid_darkness=solid,
        tone_densities=tuple(p.density for p in pattern.tone), tone_darkness=tone, page=page, pattern=pattern,
    )


def _largest_dark_mm(pattern: CalibrationPattern) -> float:
    """The side of the largest dark block on the sheet (a tone cell's patches together, or a marker)."""
    rects = np.array([p.rect_mm for p in (*pattern.tone, pattern.solid)])
    centres = (rects[:, :2] + rects[:, 2:]) / 2
    blocks = [rects[np.hypot(*(centres - c).T) < 3.5 * (rects[0, 2] - rects[0, 0])] for c in centres]
    tone = max(float(np.max(b[:, 2:].max(axis=0) - b[:, :2].min(axis=0))) for b in blocks)
    marker = max(float(np.ptp(m.corners_mm[:, 0])) for m in pattern.markers)
    return max(tone, marker)


def _inner_page_rect(pattern: CalibrationPattern, rect_mm, share: float = 0.6) -> tuple[float, float, float, float]:
    """The middle ``share`` of a machine rectangle, in page mm."""
    corners = machine_to_page(pattern.work_area, np.array([rect_mm[:2], rect_mm[2:]]))
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    mid, half = (lo + hi) / 2, (hi - lo) * share / 2
    return (*(mid - half), *(mid + half))


def _hatch_rect(pattern: CalibrationPattern, rect_mm) -> tuple[float, float, float, float]:
    """A tone patch's whole hatch periods across its lines (page y), its middle half along them (no turns)."""
    x0, y0, x1, y1 = _inner_page_rect(pattern, rect_mm, 1.0)
    return (x0 + (x1 - x0) / 4, y0, x1 - (x1 - x0) / 4, y1)


def _backlash(page: Straightened, pattern: CalibrationPattern, fit: AffineFit, to_q) -> tuple[dict, dict]:
    """Per axis: how much wider than commanded each pair's gap is, in the machine's commanded mm."""
    pen = pattern.pen_width_mm
    values: dict[str, list[float]] = {"x": [], "y": []}
    for pair in pattern.backlash:
        k = 0 if pair.axis == "x" else 1
        mid = (pair.span_mm[0] + pair.span_mm[1]) / 2
        half = (pair.span_mm[1] - pair.span_mm[0]) / 2 - pair.hook_mm - pen - 0.5
        positions = []
        for line in pair.lines_mm:
            machine = np.array([line, mid]) if k == 0 else np.array([mid, line])
            centre = machine_to_page(pattern.work_area, machine)
            # machine x lines run along page y, machine y lines along page x
            fitted = fit_line(page, k == 1, centre[k], centre[1 - k], half, 0.0, 0.75 * pen + 1.0)
            if fitted is None:
                break
            point = np.array([fitted.position_mm, fitted.at_mm]) if k == 0 else np.array([fitted.at_mm, fitted.position_mm])
            positions.append(fit.to_nominal(to_q(point[None]))[0, k])
        if len(positions) == 2:
            values[pair.axis].append(positions[1] - positions[0] - (pair.lines_mm[1] - pair.lines_mm[0]))
    if not values["x"] or not values["y"]:
        raise MeasureError("the backlash line pairs could not be found on the sheet: scan or photograph it sharper")
    mean = {a: float(np.mean(v)) for a, v in values.items()}
    sigma = {a: float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan") for a, v in values.items()}
    return mean, sigma


def _pen_width(page: Straightened, pattern: CalibrationPattern, solid: float, to_q) -> tuple[float, float, float]:
    """Pen width (ink seen across an isolated comb line / the solid patch's darkness) and the blur, in mm.

    The integral of darkness across a line does not change with blur, so this width is the drawn one.
    """
    comb = pattern.comb
    lines = [comb.lines_mm[i] for i in comb.isolated]
    gap = abs(lines[1] - lines[0])
    mid = (comb.span_mm[0] + comb.span_mm[1]) / 2
    half_span = (comb.span_mm[1] - comb.span_mm[0]) * 0.35
    widths, blurs = [], []
    for x in lines:
        centre = machine_to_page(pattern.work_area, np.array([x, mid]))
        fitted = fit_line(page, False, centre[0], centre[1], half_span, 0.0, 0.75 * pattern.pen_width_mm + 1.0)
        if fitted is None:
            raise MeasureError("the comb's lines could not be found on the sheet: scan or photograph it sharper")
        offsets, dark = profile_across(page, fitted.position_mm, (centre[1] - half_span, centre[1] + half_span),
                                       gap / 2 - 0.2)
        dark = dark - np.median(np.concatenate([dark[:3], dark[-3:]]))
        inked = np.clip(dark, 0, None)
        step = 1 / page.px_per_mm
        area = float(dark.sum() * step)
        width = area / solid
        mean = float((inked * offsets).sum() / inked.sum())
        near = np.abs(offsets - mean) <= width / 2 + 1.0  # noise far out would swamp the second moment
        variance = float((dark[near] * (offsets[near] - mean) ** 2).sum() / dark[near].sum())
        here = np.array([[fitted.position_mm - 0.5, centre[1]], [fitted.position_mm + 0.5, centre[1]]])
        scale = float(np.hypot(*(to_q(here)[1] - to_q(here)[0])))  # reference mm per straightened mm
        widths.append(width * scale)
        blurs.append(np.sqrt(max(variance - width ** 2 / 12, 0)) * scale)
    sigma = float(np.std(widths, ddof=1) / np.sqrt(len(widths)))
    return float(np.mean(widths)), sigma, float(np.mean(blurs))
