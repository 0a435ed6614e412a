"""Read an SVG (ours from ``fit``, or any real-world one) into a vpype Document, one layer per pen.

vpype works in CSS pixels (96 per inch); the Document keeps those units and its page size. Each
distinct ``inkscape:label`` of a top-level group is one pen, so one layer whose ``vp_name`` is that label;
groups with the same label share it, and unlabelled groups join the paths outside any group in layer 1.
A zero-length subpath ("M x,y L x,y" or "M x,y Z", a plotter's dot) becomes a two-point line [p, p],
which the G-code writer turns into a pen dip without motion.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import svgelements  # vpype's own SVG parser, so dots are found exactly where vpype will put them
import vpype

from gcode.svg_scan import SvgError, parse_svg

PX_PER_MM = 96.0 / 25.4
QUANTIZATION_MM = 0.05
MAX_PAGE_MM = 10_000.0

_SVG_NS = "http://www.w3.org/2000/svg"
_INKSCAPE_LABEL = "{http://www.inkscape.org/namespaces/inkscape}label"
_MAY_HOLD_DOT = re.compile("[LlHhVvZz]")  # a zero-length subpath needs a line or close command
_GROUP_TAGS = (f"{{{_SVG_NS}}}g", f"{{{_SVG_NS}}}svg")  # what vpype treats as a top-level group


def read_svg(path: str | Path, quantization_px: float = QUANTIZATION_MM * PX_PER_MM) -> vpype.Document:
    """Read an SVG into a Document in CSS px, one layer per group label, curves within ``quantization_px``."""
    path = Path(path)
    root = parse_svg(path)  # within the limits of gcode.svg_scan, which vpype's parser does not have
    if root.tag != f"{{{_SVG_NS}}}svg":
        raise SvgError(f"{path} is not an SVG file (its root element is {root.tag!r})")

    names = _number_layers(root)
    _keep_dots(root)
    has_page = any(root.get(attr) for attr in ("width", "height", "viewBox"))
    try:
        doc = vpype.read_multilayer_svg(
            io.StringIO(ET.tostring(root, encoding="unicode")),
            quantization=quantization_px,
            crop=has_page,
            simplify=True,  # drop vertices within the quantization of the curve: chord error, not step length
        )
    except ValueError as exc:
        raise SvgError(f"SVG {path} cannot be interpreted: {exc}") from None

    if has_page:
        width_mm, height_mm = (side / PX_PER_MM for side in doc.page_size)
        if not (0 < width_mm <= MAX_PAGE_MM and 0 < height_mm <= MAX_PAGE_MM):
            raise SvgError(
                f"SVG {path} has a page of {width_mm:g} x {height_mm:g} mm; "
                f"each side must be above 0 and at most {MAX_PAGE_MM:g} mm"
            )
    else:
        doc.page_size = None
    if doc.is_empty():
        raise SvgError(f"SVG {path} contains nothing to draw on its page")
    if not all(np.isfinite(line).all() for layer in doc.layers.values() for line in layer):
        raise SvgError(f"SVG {path} has a coordinate that is not a finite number (e.g. 1e400 or nan)")

    for new_id, layer_id in enumerate(sorted(doc.layers), start=1):  # layers numbered 1, 2, ... in order
        layer = doc.pop(layer_id)
        layer.metadata.pop("svg_inkscape_label", None)
        layer.set_property(vpype.METADATA_FIELD_NAME, names.get(layer_id))
        doc.add(layer, new_id, with_metadata=True)
    doc.add_to_sources(path)
    return doc


def _number_layers(root: ET.Element) -> dict[int, str | None]:
    """Relabel the top-level groups with layer numbers, one per distinct label; return the labels.

    vpype derives layer ids from digits in the label, so "fine 0.3" and "pen 0.5" would share a layer.
    Unlabelled groups get layer 1, where vpype puts the paths outside any group.
    """
    ids: dict[str | None, int] = {None: 1}
    for group in (child for child in root if child.tag in _GROUP_TAGS):
        label = group.get(_INKSCAPE_LABEL)
        layer_id = ids.setdefault(label, len(ids) + 1)
        group.set(_INKSCAPE_LABEL, str(layer_id))
        group.attrib.pop("id", None)  # vpype reads digits in the id when the label has none
    return {layer_id: label for label, layer_id in ids.items()}


def _keep_dots(root: ET.Element) -> None:
    """Rewrite zero-length subpaths as zero-length cubics, so that vpype keeps them as dots.

    vpype drops every line of fewer than two points, and "M p L p" flattens to the single point p; a
    degenerate curve "M p C p p p" flattens to [p, p] instead, which survives cropping, merging and ordering.
    """
    for element in root.iter(f"{{{_SVG_NS}}}path"):
        data = element.get("d", "")
        if not _MAY_HOLD_DOT.search(data):  # curves only: nothing to rewrite, skip the parse
            continue
        try:
            subpaths = list(svgelements.Path(data).as_subpaths())
        except ValueError:  # malformed path data: left for vpype to report
            continue
        if any(_is_dot(subpath) for subpath in subpaths):
            rewritten = (_dot_d(sub) if _is_dot(sub) else sub.d(relative=False) for sub in subpaths)
            element.set("d", " ".join(rewritten))


def _is_dot(subpath: svgelements.Subpath) -> bool:
    """Whether a subpath draws something but goes nowhere: only zero-length lines or closes after its move."""
    drawn = [segment for segment in subpath if not isinstance(segment, svgelements.Move)]
    return bool(drawn) and all(
        isinstance(segment, svgelements.Line | svgelements.Close) and segment.start == segment.end
        for segment in drawn
    )


def _dot_d(subpath: svgelements.Subpath) -> str:
    """Path data for a zero-length cubic at the subpath's point."""
    point = f"{subpath[0].end.x!r},{subpath[0].end.y!r}"
    return f"M {point} C {point} {point} {point}"
