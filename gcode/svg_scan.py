"""Reading an SVG's XML safely: hostile files are refused with one clear error before vpype sees them.

The file is parsed once with a streaming parser that stops at the first limit crossed: the file's size,
nesting depth, number of elements, length of one attribute and number of path commands. Then the
``<use>`` references are followed, without expanding them, to refuse a reference cycle and a file that
would expand (billion-laughs style) past the element or depth limits. XML entity declarations are refused
before parsing at all.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

MAX_SVG_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 200
MAX_ELEMENTS = 500_000  # after <use> expansion; about 3 s to scan on a slow machine
MAX_ATTRIBUTE_CHARS = 10_000_000
MAX_PATH_COMMANDS = 4_000_000
_PATH_COMMAND_LETTERS = "MmLlHhVvCcSsQqTtAaZz"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_USE = "{http://www.w3.org/2000/svg}use"
_POINT_ATTRIBUTES = ("points",)  # <polyline>/<polygon>: counted as one command per number pair
_FEED_BYTES = 4 * 1024 * 1024
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class SvgError(ValueError):
    """An SVG file that cannot be turned into a drawing."""


def parse_svg(path: str | Path) -> ET.Element:
    """The root element of the SVG file at ``path``, within the limits above; SvgError otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SVG_BYTES + 1)
    except OSError as exc:
        raise SvgError(f"cannot read SVG {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_SVG_BYTES:
        raise SvgError(f"SVG {path} is larger than {MAX_SVG_BYTES // 2**20} MiB")
    if b"<!entity" in data.lower():  # refused before parsing: entity expansion can exhaust memory
        raise SvgError(f"SVG {path} declares XML entities, which are refused for safety")
    try:
        root = _scan(data, path)
    except ET.ParseError as exc:
        raise SvgError(f"SVG {path} is not well-formed XML: {exc}") from None
    _check_uses(root, path)
    return root


def _scan(data: bytes, path: Path) -> ET.Element:
    """Parse, stopping at the first element past the depth, element, attribute or path-command limits."""
    depth = elements = commands = 0
    root = None
    for event, element in _events(data):
        if event == "end":
            depth -= 1
            continue
        root = element if root is None else root
        depth += 1
        elements += 1
        if depth > MAX_DEPTH:
            raise SvgError(f"SVG {path} has more than {MAX_DEPTH} levels of nesting")
        if elements > MAX_ELEMENTS:
            raise SvgError(f"SVG {path} has more than {MAX_ELEMENTS:,} elements")
        for name, value in element.attrib.items():
            if len(value) > MAX_ATTRIBUTE_CHARS:
                raise SvgError(f"SVG {path} has an attribute {_local(name)!r} longer than "
                               f"{MAX_ATTRIBUTE_CHARS:,} characters")
        if "d" in element.attrib:
            commands += sum(map(element.attrib["d"].count, _PATH_COMMAND_LETTERS))
        for name in _POINT_ATTRIBUTES:
            if name in element.attrib:
                commands += len(_NUMBER.findall(element.attrib[name])) // 2
        if commands > MAX_PATH_COMMANDS:
            raise SvgError(f"SVG {path} has more than {MAX_PATH_COMMANDS:,} path commands")
    assert root is not None  # iterparse raises ParseError on a document without an element
    return root


def _events(data: bytes):
    """The parser's start and end events, fed in large pieces: expat re-reads a token that spans pieces,
    so a 50 MB attribute fed in iterparse's 16 KiB pieces would take minutes."""
    parser = ET.XMLPullParser(events=("start", "end"))
    for start in range(0, len(data), _FEED_BYTES):
        parser.feed(data[start : start + _FEED_BYTES])
        yield from parser.read_events()
    parser.close()
    yield from parser.read_events()


def _check_uses(root: ET.Element, path: Path) -> None:
    """Refuse ``<use>`` cycles, and references that would expand past MAX_ELEMENTS or MAX_DEPTH.

    Each element's expanded size and depth are found once (depth-first, without recursion), a ``<use>``
    counting as what it refers to; an element met again while it is being measured is a cycle.
    """
    uses = [element for element in root.iter(_USE) if _href(element)]
    if not uses:
        return
    by_id = {element.get("id"): element for element in root.iter() if element.get("id")}
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_ids: set[int] = set()

    def parts(element: ET.Element) -> list[ET.Element]:
        target = by_id.get(_href(element)) if element.tag == _USE else None
        return [*element, target] if target is not None else list(element)

    stack: list[tuple[ET.Element, bool]] = [(root, False)]
    while stack:
        element, done = stack.pop()
        key = id(element)
        if done:
            children = parts(element)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            open_ids.discard(key)
            if size[key] > MAX_ELEMENTS:
                raise SvgError(f"SVG {path} expands through <use> references to more than {MAX_ELEMENTS:,} elements")
            if depth[key] > MAX_DEPTH:
                raise SvgError(f"SVG {path} expands through <use> references to more than {MAX_DEPTH} levels of nesting")
            continue
        if key in size:
            continue
        open_ids.add(key)
        stack.append((element, True))
        for child in parts(element):
            if id(child) in open_ids:
                name = element.get("id") or _href(element)
                raise SvgError(f"SVG {path} has a <use> reference cycle (through {name!r}): an element refers "
                               "to itself or to an element that contains it")
            if id(child) not in size:
                stack.append((child, False))


def _href(element: ET.Element) -> str | None:
    """The id a ``<use>`` refers to (``href="#id"`` or ``xlink:href="#id"``), or None."""
    href = element.get("href") or element.get(_XLINK_HREF) or ""
    return href[1:] if href.startswith("#") and len(href) > 1 else None


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]
