"""Measuring a sheet drawn by a machine with known errors recovers them, from a scan and from a photo."""

import math
from dataclasses import replace

import numpy as np
import pytest

from calibration import default_profile
from calibration.board import board_image
from calibration.fit_affine import decompose, fit_affine
from calibration.measure import measure, photo_reference, scan_reference
from calibration.pattern import build_pattern
from calibration.photo import MachineError, affine_matrix, play_machine, rasterise, shuffled, synth_photo, synth_scan

PX_PER_MM = 5.0
DRAWN_PEN_MM = 0.7  # the profile's pen says 0.5 mm
MISCALIBRATED = MachineError(scale_x=1.01, scale_y=0.995, skew_deg=0.5, rotation_deg=0.3, offset_x_mm=0.8,
                             offset_y_mm=-0.5, backlash_x_mm=0.3, backlash_y_mm=0.3)


@pytest.fixture(scope="module")
def pattern():
    base = default_profile()
    profile = replace(base, work_area=replace(base.work_area, width_mm=160.0, height_mm=160.0, margin_mm=5.0))
    return build_pattern(profile, date="2026-12-01")


def drawn_page(pattern, machine: MachineError, seed: int = 1) -> np.ndarray:
    """The sheet as ``machine`` draws it, in an order and direction a planner might choose."""
    return rasterise(play_machine(shuffled(pattern.strokes(), seed), machine), pattern.work_area, PX_PER_MM,
                     DRAWN_PEN_MM)


@pytest.fixture(scope="module")
def miscalibrated_page(pattern):
    return drawn_page(pattern, MISCALIBRATED)


def assert_recovers(m, machine: MachineError):
    assert m.fit.parts["scale_x"] == pytest.approx(machine.scale_x, abs=0.001)
    assert m.fit.parts["scale_y"] == pytest.approx(machine.scale_y, abs=0.001)
    assert m.fit.parts["skew_deg"] == pytest.approx(machine.skew_deg, abs=0.05)
    assert m.backlash_mm["x"] == pytest.approx(machine.backlash_x_mm, abs=0.05)
    assert m.backlash_mm["y"] == pytest.approx(machine.backlash_y_mm, abs=0.05)
    assert m.pen_width_mm == pytest.approx(DRAWN_PEN_MM, abs=0.03)
    assert m.fit.rms_mm < 0.03
    assert m.fit.used.sum() == len(m.pattern.crosses)


def test_a_scan_at_a_known_resolution_recovers_scale_skew_backlash_and_pen_width(pattern, miscalibrated_page):
    scan = synth_scan(miscalibrated_page, PX_PER_MM, dpi=127.0, rotation_deg=1.5, seed=3)
    m = measure(scan, pattern, scan_reference(127.0))
    assert_recovers(m, MISCALIBRATED)
    # the sheet's turn on the glass is fitted (with the machine's own rotation) and kept apart
    assert m.fit.parts["rotation_deg"] == pytest.approx(MISCALIBRATED.rotation_deg + 1.5, abs=0.02)


def test_a_photo_at_an_angle_with_the_reference_board_recovers_the_same(pattern, miscalibrated_page):
    photo = synth_photo(miscalibrated_page, PX_PER_MM, board_image(PX_PER_MM), (1400, 900), tilt=0.15, seed=4)
    m = measure(photo, pattern, photo_reference(photo))
    assert m.mode == "photo"
    assert_recovers(m, MISCALIBRATED)


def test_a_well_calibrated_machine_measures_square_true_and_without_backlash(pattern):
    exact = MachineError()
    scan = synth_scan(drawn_page(pattern, exact), PX_PER_MM, dpi=127.0, rotation_deg=-0.7, seed=5)
    assert_recovers(measure(scan, pattern, scan_reference(127.0)), exact)


def test_a_scan_read_at_the_wrong_resolution_shows_as_a_scale_error(pattern, miscalibrated_page):
    """The scale is only as absolute as the dpi given: the scanner is the ruler."""
    scan = synth_scan(miscalibrated_page, PX_PER_MM, dpi=127.0, seed=3)
    m = measure(scan, pattern, scan_reference(127.0 * 1.02))
    assert m.fit.parts["scale_x"] == pytest.approx(MISCALIBRATED.scale_x / 1.02, abs=0.001)


def test_the_tone_ladder_darkens_with_density_up_to_the_ink(pattern, miscalibrated_page):
    m = measure(synth_scan(miscalibrated_page, PX_PER_MM, dpi=127.0, seed=3), pattern, scan_reference(127.0))
    assert np.all(np.diff(m.tone_darkness) > -0.01)
    assert m.tone_darkness[0] < 0.3 < 0.8 < m.tone_darkness[-1]
    assert m.solid_darkness == pytest.approx(0.9, abs=0.03)  # the rasteriser's ink


@pytest.mark.parametrize("parts", [(1.01, 0.995, 0.5, 0.0), (0.98, 1.02, -1.5, 30.0), (1.0, 1.0, 0.0, -90.0)])
def test_the_affine_parts_are_the_machine_s_names(parts):
    found = decompose(affine_matrix(*parts))
    assert [found["scale_x"], found["scale_y"], found["skew_deg"], found["rotation_deg"]] == pytest.approx(parts)
    # skew positive toward +X: the drawn Y axis has a positive x component
    assert (affine_matrix(1, 1, 1.0, 0) @ [0, 1])[0] == pytest.approx(math.sin(math.radians(1.0)))


def test_the_affine_fit_gives_uncertainties_and_drops_a_smudged_cross():
    rng = np.random.default_rng(0)
    nominal = np.stack(np.meshgrid(np.linspace(0, 100, 6), np.linspace(0, 80, 5)), -1).reshape(-1, 2)
    matrix = affine_matrix(1.01, 0.995, 0.5, 2.0)
    measured = nominal @ matrix.T + [3.0, -2.0] + rng.normal(0, 0.01, nominal.shape)
    measured[7] += [0.5, 0.0]
    fit = fit_affine(nominal, measured)
    assert not fit.used[7] and fit.used.sum() == len(nominal) - 1
    assert fit.parts["scale_x"] == pytest.approx(1.01, abs=3 * fit.sigmas["scale_x"] + 1e-5)
    assert fit.rms_mm == pytest.approx(0.01 * math.sqrt(2), rel=0.4)
    assert 0 < fit.sigmas["skew_deg"] < 0.05
