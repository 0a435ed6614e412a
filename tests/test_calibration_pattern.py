"""The calibration sheet: what it holds, where it lands on the machine, and that its files say the same."""

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

from calibration import default_profile
from calibration.pattern import MIN_CROSSES, build_pattern, machine_to_page, marker_bits
from calibration.photo import MachineError, play_machine, rasterise, shuffled
from calibration.sheet import PatternFileError, pattern_from_json, pattern_to_json, pattern_to_svg
from gcode import PlanOptions
from gcode.dialects import flavour_for
from gcode.reader import Move, read_program
from strokebot.pipeline import plan_svg


def small_profile(origin="bottom-left", side_mm=160.0):
    base = default_profile()
    return replace(base, work_area=replace(base.work_area, width_mm=side_mm, height_mm=side_mm, margin_mm=5.0,
                                           origin=origin))


@pytest.mark.parametrize("profile", [default_profile(), small_profile(), small_profile("top-right")],
                         ids=["a4", "small", "top-right"])
def test_the_sheet_holds_every_feature_inside_the_drawing_area(profile):
    pattern = build_pattern(profile, date="2026-12-01")
    area = profile.work_area
    assert len(pattern.crosses) >= MIN_CROSSES
    assert sorted(m.id for m in pattern.markers) == [0, 1, 2, 3]
    assert {p.axis for p in pattern.backlash} == {"x", "y"}
    assert len(pattern.tone) >= 8 and np.all(np.diff([p.density for p in pattern.tone]) > 0)
    assert pattern.squares and pattern.label and len(pattern.comb.isolated) >= 2
    every = np.concatenate(pattern.strokes())
    half_pen = pattern.pen_width_mm / 2
    assert every.min(axis=0).tolist() >= [area.margin_mm - 1e-9] * 2
    assert (every.max(axis=0) <= [area.width_mm - area.margin_mm + 1e-9, area.height_mm - area.margin_mm + 1e-9]).all()
    inked = every - half_pen  # the ink of the outermost strokes stays inside too
    assert inked.min() >= area.margin_mm - half_pen - 1e-9


def test_a_work_area_too_small_for_the_sheet_is_refused_saying_so():
    with pytest.raises(ValueError, match="too small for a calibration sheet"):
        build_pattern(small_profile(side_mm=90.0))


def test_the_hatched_markers_are_the_aruco_markers_a_camera_reads():
    pattern = build_pattern(small_profile(), date="2026-12-01")
    page = rasterise([s for m in pattern.markers for s in m.strokes], pattern.work_area, 6.0, pattern.pen_width_mm)
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    corners, ids, _ = cv2.aruco.ArucoDetector(dictionary).detectMarkers((page * 255).astype(np.uint8))
    assert sorted(ids.ravel().tolist()) == [0, 1, 2, 3]
    for marker_id, found in zip(ids.ravel(), corners):
        nominal = machine_to_page(pattern.work_area, pattern.markers[marker_id].corners_mm) * 6.0 - 0.5
        assert np.abs(found.reshape(4, 2) - nominal).max() < 1.5  # same corners, same order
    assert marker_bits(0).shape == (6, 6) and marker_bits(0)[0].all()  # the black border


def test_a_cross_lands_in_the_same_place_whichever_order_and_direction_the_planner_draws_it():
    pattern = build_pattern(small_profile(), date="2026-12-01")
    machine = MachineError(backlash_x_mm=0.4, backlash_y_mm=0.4)
    strokes = [s for c in pattern.crosses for s in c.strokes] + [s for p in pattern.backlash for s in p.strokes]

    def arm_positions(seed):
        """Where each line's long middle part is drawn across its length, drawn in a random order and direction."""
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(strokes))
        flips = rng.random(len(strokes)) < 0.5
        drawn = play_machine([strokes[i][::-1] if f else strokes[i] for i, f in zip(order, flips)], machine)
        across = {}
        for i, f, line in zip(order, flips, drawn):
            middle = line[1:3] if len(line) == 4 else line
            nominal = strokes[i][1:3] if len(line) == 4 else strokes[i]
            axis = 1 if abs(nominal[0, 1] - nominal[1, 1]) < 1e-9 else 0  # 1: horizontal, across is y
            across[i] = middle[:, axis].tolist()
        return across

    first, second = arm_positions(1), arm_positions(2)
    assert max(abs(a - b) for k in first for a, b in zip(first[k], second[k])) < 1e-9
    strokes = [s[1:3] for s in strokes]  # the same lines without their hooks do move with the order
    first, second = arm_positions(1), arm_positions(2)
    assert max(abs(a - b) for k in first for a, b in zip(first[k], second[k])) == pytest.approx(0.4)


def test_sheet_json_reads_back_to_the_same_pattern():
    pattern = build_pattern(small_profile("top-left"), date="2026-12-01")
    again = pattern_from_json(json.loads(json.dumps(pattern_to_json(pattern))))
    assert again.work_area == pattern.work_area and again.profile_name == pattern.profile_name
    for a, b in zip(pattern.strokes(), again.strokes(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose([c.centre_mm for c in again.crosses], [c.centre_mm for c in pattern.crosses])
    assert [p.lines_mm for p in again.backlash] == [p.lines_mm for p in pattern.backlash]


@pytest.mark.parametrize("data, says", [({"format": "something else"}, "not a calibration pattern"),
                                        ({"format": "strokebot-calibration-pattern", "version": 99}, "version 99"),
                                        ({"format": "strokebot-calibration-pattern", "version": 1}, "damaged")])
def test_a_file_that_is_not_a_pattern_is_refused_by_name(data, says):
    with pytest.raises(PatternFileError, match=says):
        pattern_from_json(data, source="mine.json")


@pytest.mark.parametrize("origin", ["bottom-left", "top-right"])
def test_the_svg_planned_for_the_profile_draws_each_cross_at_its_nominal_machine_position(origin, tmp_path):
    profile = small_profile(origin)
    pattern = build_pattern(profile, date="2026-12-01")
    svg = tmp_path / "sheet.svg"
    svg.write_text(pattern_to_svg(pattern))
    lines = plan_svg(svg, profile, PlanOptions()).lines
    ends = np.array([e.end for e in read_program(lines, flavour_for(profile)) if isinstance(e, Move) and e.pen_down])
    for cross in pattern.crosses:
        for stroke in cross.strokes:  # each arm's corner vertices are drawn where the pattern says
            for vertex in stroke[1:3]:
                assert np.hypot(*(ends - vertex).T).min() < 0.002


def test_the_printed_board_is_the_board_a_photo_is_measured_against():
    import re

    from calibration.board import RASTER_MM, board_size_mm, board_svg, charuco_board

    svg = board_svg()
    w, h = board_size_mm()
    fine = np.zeros((round(h / RASTER_MM), round(w / RASTER_MM)), bool)
    for x, y, rw, rh in re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/>', svg):
        x0, y0 = round(float(x) / RASTER_MM), round(float(y) / RASTER_MM)
        fine[y0:y0 + round(float(rh) / RASTER_MM), x0:x0 + round(float(rw) / RASTER_MM)] = True
    expected = charuco_board().generateImage(fine.shape[::-1], marginSize=0, borderBits=1) < 128
    assert (fine == expected).all()
    assert f'width="{w + 30:g}mm"' in svg  # mm on the page: printed at 100 %, a square is 20 mm
