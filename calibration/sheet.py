"""The calibration sheet's files: ``sheet.json`` (what the measure step compares against) and the SVG.

sheet.json holds every stroke and the nominal geometry in machine mm, with the work area (and so the
origin) it was made for. The SVG is the drawing area in page mm (y down): its page is exactly the
profile's drawing area, so ``strokebot plan`` places it 1:1 (page point p lands at machine
``page_to_machine(p)``), one group per role.
"""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from calibration.pattern import (
    FORMAT,
    MARKER_DICTIONARY,
    VERSION,
    BacklashPair,
    CalibrationPattern,
    Comb,
    Cross,
    Marker,
    TonePatch,
    machine_to_page,
)
from calibration.profile import ORIGINS, WorkArea


class PatternFileError(ValueError):
    """A sheet.json that is not a calibration pattern strokebot wrote, or not this version of one."""


def pattern_to_json(pattern: CalibrationPattern) -> dict[str, Any]:
    """The pattern as JSON-ready data (machine mm, rounded to 1 µm)."""
    def pts(a: np.ndarray) -> list:
        return np.round(np.asarray(a, dtype=float), 4).tolist()

    area = pattern.work_area
    return {
        "format": FORMAT,
        "version": VERSION,
        "profile": pattern.profile_name,
        "date": pattern.date,
        "units": "machine mm",
        "work_area": {"width_mm": area.width_mm, "height_mm": area.height_mm, "margin_mm": area.margin_mm,
                      "origin": area.origin},
        "pen_width_mm": pattern.pen_width_mm,
        "marker_dictionary": MARKER_DICTIONARY,
        "markers": [{"id": m.id, "corners_mm": pts(m.corners_mm), "strokes": [pts(s) for s in m.strokes]}
                    for m in pattern.markers],
        "crosses": [{"centre_mm": pts(c.centre_mm), "arm_mm": c.arm_mm, "strokes": [pts(s) for s in c.strokes]}
                    for c in pattern.crosses],
        "squares": [pts(s) for s in pattern.squares],
        "backlash": [{"axis": p.axis, "lines_mm": list(p.lines_mm), "span_mm": list(p.span_mm),
                      "hook_mm": p.hook_mm, "strokes": [pts(s) for s in p.strokes]} for p in pattern.backlash],
        "comb": {"lines_mm": list(pattern.comb.lines_mm), "isolated": list(pattern.comb.isolated),
                 "span_mm": list(pattern.comb.span_mm), "strokes": [pts(s) for s in pattern.comb.strokes]},
        "tone": [_patch_json(p, pts) for p in pattern.tone],
        "solid": _patch_json(pattern.solid, pts),
        "label": [pts(s) for s in pattern.label],
    }


def _patch_json(patch: TonePatch, pts) -> dict[str, Any]:
    return {"density": patch.density, "rect_mm": list(patch.rect_mm), "strokes": [pts(s) for s in patch.strokes]}


def pattern_from_json(data: Any, source: str = "sheet.json") -> CalibrationPattern:
    """The pattern written by ``pattern_to_json``; a file of another kind or version is refused by name."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PatternFileError(f"{source} is not a calibration pattern file (make one with `strokebot calibrate "
                               "pattern -o sheet.svg`, which writes sheet.json beside it)")
    if data.get("version") != VERSION:
        raise PatternFileError(f"{source} is a version {data.get('version')!r} pattern file; this strokebot reads "
                               f"version {VERSION}: draw and measure a new sheet")
    try:
        wa = data["work_area"]
        if wa["origin"] not in ORIGINS:
            raise ValueError(wa["origin"])
        area = WorkArea(width_mm=float(wa["width_mm"]), height_mm=float(wa["height_mm"]),
                        margin_mm=float(wa["margin_mm"]), origin=wa["origin"])
        arr = lambda v: np.asarray(v, dtype=float)  # noqa: E731
        strokes = lambda v: tuple(arr(s) for s in v)  # noqa: E731
        patch = lambda p: TonePatch(float(p["density"]), tuple(map(float, p["rect_mm"])), strokes(p["strokes"]))  # noqa: E731
        comb = data["comb"]
        pattern = CalibrationPattern(
            profile_name=str(data["profile"]), date=str(data["date"]), work_area=area,
            pen_width_mm=float(data["pen_width_mm"]),
            markers=tuple(Marker(int(m["id"]), arr(m["corners_mm"]).reshape(4, 2), strokes(m["strokes"]))
                          for m in data["markers"]),
            crosses=tuple(Cross(arr(c["centre_mm"]).reshape(2), float(c["arm_mm"]), strokes(c["strokes"]))
                          for c in data["crosses"]),
            squares=strokes(data["squares"]),
            backlash=tuple(BacklashPair(p["axis"], tuple(map(float, p["lines_mm"])), tuple(map(float, p["span_mm"])),
                                        float(p["hook_mm"]), strokes(p["strokes"])) for p in data["backlash"]),
            comb=Comb(tuple(map(float, comb["lines_mm"])), tuple(map(int, comb["isolated"])),
                      tuple(map(float, comb["span_mm"])), strokes(comb["strokes"])),
            tone=tuple(patch(p) for p in data["tone"]),
            solid=patch(data["solid"]),
            label=strokes(data["label"]),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PatternFileError(f"{source} is a damaged calibration pattern file ({type(exc).__name__}: {exc}); "
                               "write it again with `strokebot calibrate pattern`") from None
    if len(pattern.markers) != 4 or len(pattern.crosses) < 4:
        raise PatternFileError(f"{source} is a damaged calibration pattern file (it needs 4 markers and crosses)")
    return pattern


def read_pattern_file(path) -> CalibrationPattern:
    """Read sheet.json; unreadable or not JSON is a PatternFileError naming the file."""
    try:
        data = json.loads(open(path, encoding="utf-8").read())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PatternFileError(f"cannot read the pattern file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return pattern_from_json(data, source=str(path))


def pattern_to_svg(pattern: CalibrationPattern) -> str:
    """The sheet as SVG: the page is the drawing area (mm), coordinates page mm, one group per role."""
    area = pattern.work_area
    m, w, h = area.margin_mm, area.drawing_width_mm, area.drawing_height_mm
    stroke = f"{pattern.pen_width_mm:g}"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{w:g}mm" height="{h:g}mm" viewBox="{m:g} {m:g} {w:g} {h:g}">',
        f"<title>strokebot calibration sheet: {escape(pattern.profile_name)}, {pattern.date}</title>",
        "<desc>The page is the profile's drawing area; coordinates are page mm (origin at the work area's "
        f"top-left, y down); machine coordinates follow from the work area's origin ({area.origin}).</desc>",
        f'<g fill="none" stroke="black" stroke-width="{stroke}" stroke-linecap="round" stroke-linejoin="round">',
    ]
    for role, strokes in pattern.strokes_by_role().items():
        out.append(f'<g id="{role}">')
        for s in strokes:
            page = machine_to_page(area, s)
            out.append('<polyline points="' + " ".join(f"{x:.4f},{y:.4f}" for x, y in page) + '"/>')
        out.append("</g>")
    out += ["</g>", "</svg>"]
    return "\n".join(out) + "\n"
