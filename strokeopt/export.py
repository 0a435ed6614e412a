"""Writing a stroke set as SVG: true line and Bézier paths (svgpathtools) in millimetres, one layer per pen.

A dot is a zero-length subpath ("M x,y L x,y"): round caps show it as a dot, and plotters dip the pen there.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Protocol, Sequence

import numpy as np
import torch
from svgpathtools import CubicBezier, Line, Path, QuadraticBezier

from strokeopt.colour import rgb_to_hex
from strokeopt.primitives import catmull_rom_to_cubics
from strokeopt.strokes import StrokeSet

SVG_NS = "http://www.w3.org/2000/svg"
INKSCAPE_NS = "http://www.inkscape.org/namespaces/inkscape"


class PenLike(Protocol):
    """What the SVG needs to know of a pen (calibration's PenProfile has these fields)."""

    name: str
    width_mm: float
    color: str


def stroke_paths(strokes: StrokeSet, mm_per_px: float) -> list[Path]:
    """Each stroke as an svgpathtools Path in millimetres, with the same geometry the renderer drew."""
    if strokes.primitive == "catmull-rom":  # the spline's own cubics, so export and render agree exactly
        pts = catmull_rom_to_cubics(torch.as_tensor(strokes.points, dtype=torch.float64)).numpy() * mm_per_px
        return [Path(*(CubicBezier(*_complex(c)) for c in stroke)) for stroke in pts]
    segment = {"dot": _dot, "line": Line, "quadratic": QuadraticBezier, "cubic": CubicBezier}[strokes.primitive]
    return [Path(segment(*_complex(p))) for p in strokes.points.astype(np.float64) * mm_per_px]


def _dot(point: complex) -> Line:
    """A zero-length line: how an SVG says "lower the pen here" (drawn as a dot under round caps)."""
    return Line(point, point)


def _complex(points: np.ndarray) -> list[complex]:
    """Points (K, 2) as K complex numbers x + iy, the way svgpathtools takes them."""
    return [complex(x, y) for x, y in points]


def strokes_to_svg(strokes: StrokeSet, mm_per_px: float, pens: Sequence[PenLike]) -> str:
    """SVG text whose page is the canvas at ``mm_per_px``; strokes are grouped in one Inkscape layer per pen."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("inkscape", INKSCAPE_NS)
    width_mm = strokes.width_px * mm_per_px
    height_mm = strokes.height_px * mm_per_px
    root = ET.Element(
        f"{{{SVG_NS}}}svg",
        {
            "width": f"{width_mm:.4f}mm",
            "height": f"{height_mm:.4f}mm",
            "viewBox": f"0 0 {width_mm:.4f} {height_mm:.4f}",
        },
    )
    paths = stroke_paths(strokes, mm_per_px)
    for index, pen in enumerate(pens):
        group = ET.SubElement(
            root,
            f"{{{SVG_NS}}}g",
            {
                "id": f"layer{index + 1}",
                f"{{{INKSCAPE_NS}}}groupmode": "layer",
                f"{{{INKSCAPE_NS}}}label": pen.name,
                "fill": "none",
                "stroke": pen.color,
                "stroke-width": f"{pen.width_mm:g}",
                "stroke-linecap": "round",
            },
        )
        for stroke, (path, pen_index) in enumerate(zip(paths, strokes.pens)):
            if pen_index == index:
                ET.SubElement(group, f"{{{SVG_NS}}}path", {"d": path.d(), **_paint_attributes(strokes, stroke, mm_per_px)})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _paint_attributes(strokes: StrokeSet, index: int, mm_per_px: float) -> dict[str, str]:
    """A stroke's own colour, opacity and width where they were learned; nothing for plain pen strokes."""
    attributes = {}
    if strokes.colors is not None:
        attributes["stroke"] = rgb_to_hex(strokes.colors[index])
    if strokes.opacity is not None:
        attributes["stroke-opacity"] = f"{float(strokes.opacity[index]):.3f}"
    if strokes.widths_px is not None:
        attributes["stroke-width"] = f"{float(strokes.widths_px[index]) * mm_per_px:.4f}"
    return attributes
