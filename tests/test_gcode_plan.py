"""Layout on the work area, line ordering, and the whole plan (merge, order, place)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import vpype

from calibration import WorkArea, default_profile
from gcode import PlanOptions, layout_to_work_area, order_lines, plan_document

PX_PER_MM = 96 / 25.4
MM_PER_PX = 25.4 / 96


def page_doc(width_mm: float, height_mm: float, *lines_mm: list[complex]) -> vpype.Document:
    """A document with a page in CSS px, as read_svg returns it, holding lines given in page mm."""
    doc = vpype.Document(page_size=(width_mm * PX_PER_MM, height_mm * PX_PER_MM))
    doc.add(vpype.LineCollection([np.array(line) * PX_PER_MM for line in lines_mm]), 1)
    return doc


def with_origin(origin: str):
    profile = default_profile()
    return dataclasses.replace(profile, work_area=dataclasses.replace(profile.work_area, origin=origin))


def vertices(doc: vpype.Document) -> np.ndarray:
    return np.concatenate([line for layer in doc.layers.values() for line in layer])


def test_a_190mm_square_page_lands_at_scale_one_centred_in_the_a4_drawing_area():
    doc = page_doc(190, 190, [0j, 190 + 0j])  # the page's top edge
    placed, placement = layout_to_work_area(doc, default_profile())
    assert placement.scale == pytest.approx(MM_PER_PX)  # 1 mm on the page is 1 mm on the machine
    # x: margin 10 on both sides; y: (277 - 190) / 2 = 43.5 mm spare above and below, plus the margin
    assert placement.page_rect_mm == pytest.approx((10, 53.5, 200, 243.5))
    (line,) = placed.layers[1]
    assert line == pytest.approx(np.array([10 + 243.5j, 200 + 243.5j]))  # page top is machine top (bottom-left origin)


def test_a_landscape_page_is_fitted_by_width():
    doc = page_doc(380, 95, [0j, 380 + 95j])
    _, placement = layout_to_work_area(doc, default_profile())
    assert placement.scale == pytest.approx(0.5 * MM_PER_PX)  # 380 mm squeezed into 190 mm
    # the page becomes 190 x 47.5 mm, centred in 277 mm of height: 10 + (277 - 47.5) / 2 = 124.75 from the top
    assert placement.page_rect_mm == pytest.approx((10, 297 - 124.75 - 47.5, 200, 297 - 124.75))


def test_the_machine_origin_decides_whether_y_is_flipped():
    doc = page_doc(190, 190, [20 + 30j, 40 + 30j])
    bottom_left, _ = layout_to_work_area(doc, with_origin("bottom-left"))
    top_left, placement = layout_to_work_area(doc, with_origin("top-left"))
    assert top_left.layers[1][0][0] == pytest.approx(30 + 83.5j)  # 10 + 20, 53.5 + 30
    assert bottom_left.layers[1][0][0] == pytest.approx(30 + (297 - 83.5) * 1j)
    assert placement.page_rect_mm == pytest.approx((10, 53.5, 200, 243.5))


def test_content_outside_the_page_is_cropped_so_nothing_leaves_the_work_area():
    doc = page_doc(100, 100, [-500 - 500j, 600 + 600j], [50 + 50j, 900 + 50j])
    placed, placement = layout_to_work_area(doc, default_profile())
    points = vertices(placed)
    xmin, ymin, xmax, ymax = placement.page_rect_mm
    assert np.all((points.real >= xmin) & (points.real <= xmax) & (points.imag >= ymin) & (points.imag <= ymax))
    assert (xmin, ymin, xmax, ymax) == pytest.approx((10, 53.5, 200, 243.5))


def test_without_a_page_size_the_content_bounds_are_fitted():
    doc = vpype.Document()
    doc.add(vpype.LineCollection([[100 + 100j, 300 + 200j]]), 1)  # 200 x 100 px of content
    placed, placement = layout_to_work_area(doc, default_profile())
    assert placement.scale == pytest.approx(190 / 200)
    # 190 x 95 mm, 10 + (277 - 95) / 2 = 101 mm from the top: content top-left -> (10, 196), bottom-right -> (200, 101)
    assert placed.layers[1][0] == pytest.approx(np.array([10 + 196j, 200 + 101j]))


def test_layout_leaves_its_input_untouched():
    doc = page_doc(100, 100, [-50 + 10j, 60 + 10j])
    before = doc.layers[1][0].copy()
    layout_to_work_area(doc, default_profile())
    assert np.array_equal(doc.layers[1][0], before)


def test_layout_respects_a_zero_margin_exactly():
    profile = dataclasses.replace(default_profile(), work_area=WorkArea(123.4, 56.7, 0.0, "bottom-left"))
    doc = page_doc(77.7, 33.3, [0j, 77.7 + 33.3j, 0 + 33.3j, 77.7 + 0j])
    points = vertices(layout_to_work_area(doc, profile)[0])
    assert points.real.min() >= 0 and points.real.max() <= 123.4
    assert points.imag.min() >= 0 and points.imag.max() <= 56.7


def test_order_lines_visits_the_nearest_end_next_and_reverses_lines_to_do_so():
    lines = vpype.LineCollection([[10 + 0j, 11 + 0j], [3 + 0j, 2 + 0j], [5 + 0j, 6 + 0j]])
    ordered = order_lines(lines, start=0j)
    assert [list(line) for line in ordered] == [[2, 3], [5, 6], [10, 11]]


def test_order_lines_starts_from_the_given_point_and_keeps_metadata():
    lines = vpype.LineCollection([[0j, 1 + 0j], [100 + 0j, 101 + 0j]], metadata={vpype.METADATA_FIELD_NAME: "red"})
    ordered = order_lines(lines, start=102 + 0j)
    assert [list(line) for line in ordered] == [[101, 100], [1, 0]]
    assert ordered.property(vpype.METADATA_FIELD_NAME) == "red"


def test_plan_merges_lines_whose_ends_touch_within_the_tolerance_in_mm():
    doc = page_doc(190, 190, [0j, 10 + 0j], [20 + 0j, 10.03 + 0j], [30 + 0j, 40 + 0j])
    planned = plan_document(doc, default_profile(), PlanOptions(merge_tolerance_mm=0.05))
    lines = list(planned.document.layers[1])
    assert len(lines) == 2  # the first two joined (0.03 mm gap), the third is 10 mm away
    assert sum(len(line) for line in lines) == 6


def test_plan_keeps_layers_and_their_names_and_orders_from_the_machine_origin():
    doc = page_doc(190, 190, [100 + 100j, 120 + 100j], [0 + 189j, 5 + 189j])
    doc.layers[1].set_property(vpype.METADATA_FIELD_NAME, "black")
    doc.add(vpype.LineCollection([[50 + 50j, 60 + 50j]], metadata={vpype.METADATA_FIELD_NAME: "red"}), 2, with_metadata=True)
    planned = plan_document(doc, default_profile())
    assert [planned.document.layers[i].property(vpype.METADATA_FIELD_NAME) for i in (1, 2)] == ["black", "red"]
    first = planned.document.layers[1][0]
    assert first[0] == pytest.approx(10 + (297 - 53.5 - 189) * 1j)  # the page's bottom-left line is nearest (0, 0)
    assert planned.placement.scale == pytest.approx(MM_PER_PX)


@pytest.mark.parametrize(
    "origin, corner",
    [("bottom-left", 10 + 287j), ("top-left", 10 + 10j), ("bottom-right", 200 + 287j), ("top-right", 200 + 10j)],
)
def test_each_origin_puts_the_pages_top_left_corner_where_that_machine_expects_it(origin, corner):
    doc = page_doc(190, 277, [0j, 1 + 0j])  # fills the A4 drawing area exactly
    placed, _ = layout_to_work_area(doc, with_origin(origin))
    assert placed.layers[1][0][0] == pytest.approx(corner)


def test_rotate_auto_turns_a_landscape_page_on_a_portrait_machine_to_draw_it_larger():
    doc = page_doc(300, 100, [0j, 300 + 0j])  # the page's top edge, 300 mm long
    upright, never = layout_to_work_area(doc, default_profile(), rotate="never")
    turned, auto = layout_to_work_area(doc, default_profile(), rotate="auto")
    assert not never.rotated and auto.rotated
    assert auto.scale == pytest.approx(277 / 300 * MM_PER_PX) and never.scale == pytest.approx(190 / 300 * MM_PER_PX)
    top_edge = turned.layers[1][0]
    assert top_edge.real == pytest.approx([auto.page_rect_mm[2]] * 2)  # turned clockwise: now on the right
    assert abs(top_edge[1] - top_edge[0]) == pytest.approx(277)  # and now vertical, the long way up the page
    assert top_edge[0].imag > top_edge[1].imag  # the page's top-left corner comes first, at the top


def test_rotate_auto_leaves_a_page_that_already_fits_best_upright():
    doc = page_doc(100, 300, [0j, 100 + 0j])
    assert not layout_to_work_area(doc, default_profile(), rotate="auto")[1].rotated
    assert layout_to_work_area(doc, default_profile(), rotate="always")[1].rotated
