"""Read an SVG (ours from ``fit``, or any real-world one) into a vpype Document, one layer per pen.

vpype works in CSS pixels (96 per inch); the Document keeps those units and its page size. Each
distinct ``inkscape:label`` of a top-level group is one pen, so one layer whose ``vp_name`` is that label;
groups with the same label share it, and unlabelled groups join the paths outside any group in layer 1.
A zero-length subpath ("M x,y L x,y" or "M x,y Z", a plotter's dot) becomes a two-point line [p, p],
which the G-code writer turns into a pen dip without motion.

Reading is two steps, so that a caller can learn the page before choosing how finely to flatten curves:
:func:`load_svg` parses and checks the XML once, :func:`flatten_svg` turns it into lines at a quantization.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import svgelements  # vpype's own SVG parser, so dots are found exactly where vpype will put them
import vpype

from gcode.layout import crop_document
from gcode.svg_scan import SvgError, parse_svg

PX_PER_MM = 96.0 / 25.4
QUANTIZATION_MM = 0.05
MAX_PAGE_MM = 10_000.0

_SVG_NS = "http://www.w3.org/2000/svg"
_INKSCAPE_LABEL = "{http://www.inkscape.org/namespaces/inkscape}label"
_MAY_HOLD_DOT = re.compile("[LlHhVvZz]")  # a zero-length subpath needs a line or close command
_GROUP_TAGS = (f"{{{_SVG_NS}}}g", f"{{{_SVG_NS}}}svg")  # what vpype treats as a top-level group
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_STRAIGHT_PATH = re.compile(rf"(?:[\s,]*(?:[MmLlHhVvZz]|{_NUMBER}))*[\s,]*")  # lines and closes only
_STRAIGHT_TOKEN = re.compile(rf"[MmLlHhVvZz]|{_NUMBER}")
# "M x,y L x,y", one straight segment: how `fit` writes a line
_ONE_SEGMENT = re.compile(rf"\s*M\s*({_NUMBER})[\s,]+({_NUMBER})\s*L\s*({_NUMBER})[\s,]+({_NUMBER})\s*")
_COMMANDS = frozenset("MmLlHhVvZz")
_CLOSES = frozenset("Zz")
_SURELY_MOVES = 1e-6  # user units: a segment this long (svgelements calls points within 1e-12 equal) is no dot


@dataclass(frozen=True)
class LoadedSvg:
    """An SVG parsed and checked, its groups numbered as layers and its dots kept, ready to flatten.

    ``page_px`` is the page (width, height) in CSS px, as vpype will read it, or None without one.
    """

    path: Path
    xml: str
    names: dict[int, str | None]
    page_px: tuple[float, float] | None


def read_svg(path: str | Path, quantization_px: float = QUANTIZATION_MM * PX_PER_MM) -> vpype.Document:
    """Read an SVG into a Document in CSS px, one layer per group label, curves within ``quantization_px``."""
    return flatten_svg(load_svg(path), quantization_px)


def load_svg(path: str | Path) -> LoadedSvg:
    """Parse the SVG at ``path`` within the limits of gcode.svg_scan, and find its page; SvgError otherwise."""
    path = Path(path)
    root = parse_svg(path)  # within the limits of gcode.svg_scan, which vpype's parser does not have
    if root.tag != f"{{{_SVG_NS}}}svg":
        raise SvgError(f"{path} is not an SVG file (its root element is {root.tag!r})")
    has_page = any(root.get(attr) for attr in ("width", "height", "viewBox"))
    page_px = _page_px(root, path) if has_page else None
    names = _number_layers(root)
    _keep_dots(root)
    return LoadedSvg(path, ET.tostring(root, encoding="unicode"), names, page_px)


def flatten_svg(svg: LoadedSvg, quantization_px: float) -> vpype.Document:
    """The SVG's lines in CSS px, curves within ``quantization_px``, cropped to its page if it has one."""
    try:
        doc = vpype.read_multilayer_svg(
            io.StringIO(svg.xml),
            quantization=quantization_px,
            crop=False,  # cropped below, faster, to the same lines
            simplify=True,  # drop vertices within the quantization of the curve: chord error, not step length
        )
    except (ValueError, TypeError) as exc:  # TypeError: svgelements on a command without its numbers ("H")
        raise SvgError(f"SVG {svg.path} cannot be interpreted: {exc}") from None

    if svg.page_px is not None:
        doc = crop_document(doc, 0.0, 0.0, *doc.page_size)
    else:
        doc.page_size = None
    if doc.is_empty():
        raise SvgError(f"SVG {svg.path} contains nothing to draw on its page")
    if not np.isfinite(np.concatenate([line for layer in doc.layers.values() for line in layer])).all():
        raise SvgError(f"SVG {svg.path} has a coordinate that is not a finite number (e.g. 1e400 or nan)")

    for new_id, layer_id in enumerate(sorted(doc.layers), start=1):  # layers numbered 1, 2, ... in order
        layer = doc.pop(layer_id)
        layer.metadata.pop("svg_inkscape_label", None)
        layer.set_property(vpype.METADATA_FIELD_NAME, svg.names.get(layer_id))
        doc.add(layer, new_id, with_metadata=True)
    doc.add_to_sources(svg.path)
    return doc


def _page_px(root: ET.Element, path: Path) -> tuple[float, float]:
    """The page size that vpype (through svgelements) reads from the root element alone, checked."""
    bare = ET.Element(root.tag, root.attrib)
    try:
        page = svgelements.SVG.parse(io.StringIO(ET.tostring(bare, encoding="unicode")))
    except ValueError as exc:
        raise SvgError(f"SVG {path} cannot be interpreted: {exc}") from None
    width_px, height_px = float(page.width), float(page.height)
    width_mm, height_mm = width_px / PX_PER_MM, height_px / PX_PER_MM
    if not (0 < width_mm <= MAX_PAGE_MM and 0 < height_mm <= MAX_PAGE_MM):
        raise SvgError(
            f"SVG {path} has a page of {width_mm:g} x {height_mm:g} mm; "
            f"each side must be above 0 and at most {MAX_PAGE_MM:g} mm"
        )
    return width_px, height_px


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
        if not _MAY_HOLD_DOT.search(data) or _surely_no_dot(data):  # nothing to rewrite, skip the parse
            continue
        try:
            subpaths = list(svgelements.Path(data).as_subpaths())
            dots = [_is_dot(subpath) for subpath in subpaths]
        except (ValueError, TypeError):  # malformed path data: left for vpype to report
            continue
        if any(dots):
            rewritten = (_dot_d(sub) if dot else sub.d(relative=False) for sub, dot in zip(subpaths, dots))
            element.set("d", " ".join(rewritten))


def _surely_no_dot(data: str) -> bool:
    """Whether path data made only of lines and closes has, in every subpath that draws, a segment that moves.

    A quick reading for the common case (the full parse takes most of the time of reading a large file);
    anything it is unsure of (curves, a number it cannot place, a segment near zero length) says False.
    """
    one = _ONE_SEGMENT.fullmatch(data)  # what `fit` writes for a line: read at once
    if one is not None:
        x0, y0, x1, y1 = map(float, one.groups())
        return abs(x1 - x0) > _SURELY_MOVES or abs(y1 - y0) > _SURELY_MOVES
    if _STRAIGHT_PATH.fullmatch(data) is None:
        return False
    x = y = start_x = start_y = 0.0
    command, numbers = "", []
    draws = moves = False  # the subpath so far draws a segment; one of its segments surely has length
    for token in (*_STRAIGHT_TOKEN.findall(data), "M"):  # a final M ends the last subpath
        if token in _COMMANDS:
            if numbers or (token in "Mm" and draws and not moves):
                return False  # numbers left over for the previous command, or maybe a dot
            if token in "Zz":
                if command in _CLOSES:
                    return False  # a close straight after a close: svgelements makes it a subpath of its own
                moves = moves or abs(x - start_x) > _SURELY_MOVES or abs(y - start_y) > _SURELY_MOVES
                draws, x, y = True, start_x, start_y
            elif token in "Mm":
                draws = moves = False
            elif command in _CLOSES:
                return False  # a line straight after a close: where its subpath starts is svgelements' call
            command = token
            continue
        if command in _CLOSES or not command:
            return False  # a number before any command, or after a close
        numbers.append(float(token))
        if len(numbers) < (1 if command in "HhVv" else 2):
            continue
        relative = command.islower()
        if command in "Hh":
            nx, ny = (x + numbers[0] if relative else numbers[0]), y
        elif command in "Vv":
            nx, ny = x, (y + numbers[0] if relative else numbers[0])
        else:
            nx, ny = (x + numbers[0], y + numbers[1]) if relative else (numbers[0], numbers[1])
        numbers = []
        if command in "Mm":
            start_x, start_y = nx, ny
            command = "l" if relative else "L"  # pairs after a move are lines
        else:
            moves = moves or abs(nx - x) > _SURELY_MOVES or abs(ny - y) > _SURELY_MOVES
            draws = True
        x, y = nx, ny
    return True


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
