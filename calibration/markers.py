"""Find the drawn sheet in a picture: its four ArUco markers give a homography from page mm to image px.

The markers are the machine's own marks, so this homography carries the machine's errors too: it only
straightens the picture so each feature can be looked for where the pattern put it. The measurement
itself is taken in a frame the machine did not draw (the scanner's pixels, or the printed board).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.pattern import MARKER_DICTIONARY, CalibrationPattern, machine_to_page


class MeasureError(ValueError):
    """A picture that cannot be measured; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class SheetFrame:
    """Page mm -> image px for the drawn sheet, from its markers."""

    page_to_image: np.ndarray  # 3x3 homography
    px_per_mm: float  # the picture's resolution on the sheet, near its centre

    def to_image(self, page_mm: np.ndarray) -> np.ndarray:
        return cv2.perspectiveTransform(np.asarray(page_mm, np.float64).reshape(-1, 1, 2), self.page_to_image).reshape(-1, 2)


def find_sheet(gray: np.ndarray, pattern: CalibrationPattern, name: str) -> SheetFrame:
    """The sheet's frame in ``gray`` (uint8); refused if markers are missing, misplaced or the sheet is cut off."""
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, MARKER_DICTIONARY))
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    corners, ids, _ = cv2.aruco.ArucoDetector(dictionary, params).detectMarkers(gray)
    found = {} if ids is None else {int(i): c.reshape(4, 2) for i, c in zip(ids.ravel(), corners)}
    wanted = {m.id: m for m in pattern.markers}
    seen = sorted(set(found) & set(wanted))
    if len(seen) < 2:
        others = sorted(set(found) - set(wanted))
        hint = (f" (it shows other markers, {others}: is it the sheet drawn from this sheet.json?)" if others else "")
        raise MeasureError(f"found {len(seen)} of the sheet's 4 corner markers in {name}{hint}: scan or photograph "
                           "the whole sheet, flat, in focus and evenly lit, with all four corner markers visible")
    page = np.concatenate([machine_to_page(pattern.work_area, wanted[i].corners_mm) for i in seen])
    image = np.concatenate([found[i] for i in seen]).astype(np.float64)
    homography, _ = cv2.findHomography(page, image, 0)
    back = cv2.perspectiveTransform(page.reshape(-1, 1, 2), homography).reshape(-1, 2)
    side_px = np.median(np.hypot(*(image[1::4] - image[0::4]).T))
    if len(seen) >= 3 and np.max(np.hypot(*(back - image).T)) > 0.1 * side_px:
        raise MeasureError(f"the corner markers in {name} do not sit where sheet.json puts them: measure the sheet "
                           "drawn from this sheet.json (or give the sheet.json written with it)")
    frame = SheetFrame(homography, _resolution(homography, pattern))
    area = pattern.work_area
    m = area.margin_mm
    corners = frame.to_image(np.array([[m, m], [area.width_mm - m, m], [area.width_mm - m, area.height_mm - m],
                                       [m, area.height_mm - m]]))
    h, w = gray.shape
    outside = [corner for corner, (x, y) in zip(("top-left", "top-right", "bottom-right", "bottom-left"), corners)
               if not (0 <= x < w and 0 <= y < h)]
    if outside:
        raise MeasureError(f"the sheet is cut off in {name} (its {' and '.join(outside)} corner"
                           f"{'s are' if len(outside) > 1 else ' is'} outside the picture): scan or photograph the "
                           "whole sheet")
    if len(seen) < 4:
        raise MeasureError(f"found {len(seen)} of the sheet's 4 corner markers in {name} (marker "
                           f"{sorted(set(wanted) - set(seen))[0]} is missing, blurred or smudged): scan or photograph "
                           "the whole sheet, flat, in focus and evenly lit")
    return frame


def _resolution(homography: np.ndarray, pattern: CalibrationPattern) -> float:
    """Image px per page mm at the sheet's centre."""
    area = pattern.work_area
    c = np.array([[area.width_mm / 2, area.height_mm / 2]])
    pts = np.concatenate([c, c + [1, 0], c + [0, 1]])
    img = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), homography).reshape(-1, 2)
    (ax, ay), (bx, by) = img[1] - img[0], img[2] - img[0]
    return float(np.sqrt(abs(ax * by - ay * bx)))
