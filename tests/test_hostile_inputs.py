"""Hostile input files: each is refused with one clear line and exit 2, writing nothing.

Every case is made here in tmp_path and run through the real `strokebot` command: images through `fit`,
SVGs through `plan`, G-code through `simulate` and `send`, journals through `send --resume`.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gcode.svg_scan import parse_svg
from strokeopt.image import load_grayscale, load_rgb

SVG_HEAD = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10mm" height="10mm">'
OLD = b"an older output, to be left as it is\n"


def assert_refused(result, message: str) -> None:
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("strokebot: error:"), result.stderr
    assert message in lines[0], lines[0]


def run_limited(run_cli, *args):
    return run_cli(*args, timeout=60)  # a hang fails the case instead of stalling the suite


# ------------------------------------------------------------------------------------------------ images


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size, with a tiny IDAT: Pillow knows its size before decoding anything."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _encoded(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _photo(mode: str = "RGB", size=(64, 64)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)


def _float_tiff_with_nan() -> bytes:
    values = np.full((16, 16), 0.5, np.float32)
    values[3, 3] = np.nan
    return _encoded(Image.fromarray(values), "TIFF")


IMAGES = {
    "truncated png": (lambda: _encoded(_photo(), "PNG")[:2000], "cannot read image"),
    "truncated jpeg": (lambda: _encoded(_photo(), "JPEG")[:600], "cannot read image"),
    "truncated gif": (lambda: _encoded(_photo("P"), "GIF")[:400], "not an image"),
    "truncated bmp": (lambda: _encoded(_photo(), "BMP")[:500], "cannot read image"),
    "truncated tiff": (lambda: _encoded(_photo(), "TIFF")[:300], "cannot read image"),
    "truncated header": (lambda: _encoded(_photo(), "PNG")[:20], "cannot read image"),
    "garbage idat": (lambda: _png_header_only(64, 64).replace(zlib.compress(b"\0" * 64), b"x" * 16), "cannot read image"),
    "empty file": (lambda: b"", "not an image"),
    "text file": (lambda: b"hello, this is not a picture\n" * 10, "not an image"),
    "1x1": (lambda: _encoded(Image.new("L", (1, 1)), "PNG"), "at least 8 px"),
    "7x100": (lambda: _encoded(Image.new("RGB", (7, 100)), "PNG"), "at least 8 px"),
    "100x3": (lambda: _encoded(Image.new("I;16", (100, 3)), "PNG"), "at least 8 px"),
    "bomb 9000x9000": (lambda: _png_header_only(9000, 9000), "80 megapixels"),
    "bomb 10000x10000 (Pillow warns)": (lambda: _png_header_only(10000, 10000), "80 megapixels"),
    "bomb 30000x30000 (Pillow refuses)": (lambda: _png_header_only(30000, 30000), "80 megapixels"),
    "bomb 1 x 2e9": (lambda: _png_header_only(8, 2_000_000_000), "80 megapixels"),
    "float tiff with nan": (_float_tiff_with_nan, "not finite"),
}


@pytest.mark.parametrize("name", IMAGES)
def test_a_hostile_image_is_refused_in_one_line(run_cli, tmp_path, name):
    make, message = IMAGES[name]
    image = tmp_path / "in.png"
    image.write_bytes(make())
    out = tmp_path / "out"
    out.mkdir()
    (out / "strokes.svg").write_bytes(OLD)
    result = run_limited(run_cli, "fit", image, "-o", out, "--iters", "0", "--strokes", "1", "--quiet")
    assert_refused(result, message)
    assert sorted(p.name for p in out.iterdir()) == ["strokes.svg"]
    assert (out / "strokes.svg").read_bytes() == OLD


def test_a_16_bit_gradient_loads_with_the_tones_of_its_8_bit_version(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (32, 1))
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    Image.fromarray((ramp / 257).round().astype(np.uint8)).save(tmp_path / "g8.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    wide, narrow = load_grayscale(tmp_path / "g16.png", 64), load_grayscale(tmp_path / "g8.png", 64)
    assert np.abs(wide - narrow).max() <= 1 / 255 + 1e-6
    assert wide[:, 0].max() < 0.01 and wide[:, -1].min() > 0.99  # black to white, not all white


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: Image.new("CMYK", (16, 16), (0, 0, 0, 255)), 0.0),
        (lambda: Image.new("CMYK", (16, 16), (0, 0, 0, 0)), 1.0),
        (lambda: Image.new("LA", (16, 16), (0, 0)), 1.0),  # transparent black: white paper
        (lambda: Image.new("LA", (16, 16), (0, 255)), 0.0),
        (lambda: Image.new("RGBA", (16, 16), (0, 0, 0, 0)), 1.0),
        (lambda: Image.new("RGBA", (16, 16), (0, 0, 0, 128)), 127 / 255),
        (lambda: Image.new("RGB", (16, 16), (128, 128, 128)).convert("P"), 128 / 255),
        (lambda: Image.new("L", (16, 16), 64).convert("1"), 64 / 255),  # dithered: a quarter white
        (lambda: Image.fromarray(np.full((16, 16), 0.25, np.float32)), 0.25),
        (lambda: Image.fromarray(np.full((16, 16), 16384, np.int32)), 16384 / 65535),
        (lambda: Image.fromarray(np.full((16, 16), 32768, np.uint16)), 32768 / 65535),
    ],
    ids=["cmyk black", "cmyk white", "la clear", "la black", "rgba clear", "rgba half", "palette", "bilevel",
         "float", "int32", "int16"],
)
def test_every_image_mode_loads_to_its_gray(tmp_path, make, expected):
    img = make()
    path = tmp_path / ("in.tif" if img.mode in ("CMYK", "F", "I") else "in.png")
    img.save(path)
    gray = load_grayscale(path, 16)
    rgb = load_rgb(path, 16)
    if img.mode == "1":
        assert gray.mean() == pytest.approx(expected, abs=0.05)
    else:
        assert gray.mean() == pytest.approx(expected, abs=1.5 / 255)
        assert rgb.mean() == pytest.approx(expected, abs=1.5 / 255)


def test_a_palette_image_with_a_transparent_entry_is_composited_on_white(tmp_path):
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0] * 256)
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    assert load_grayscale(tmp_path / "p.png", 16).mean() == pytest.approx(1.0)


# -------------------------------------------------------------------------------------------------- SVGs


def _nested(tag: str, depth: int) -> str:
    return SVG_HEAD + f"<{tag}>" * depth + '<path d="M0 0 L5 5"/>' + f"</{tag}>" * depth + "</svg>"


def _laughs(levels: int, fanout: int) -> str:
    defs = ['<g id="l0"><path d="M0 0 L5 5"/></g>']
    for level in range(1, levels):
        defs.append(f'<g id="l{level}">' + f'<use href="#l{level - 1}"/>' * fanout + "</g>")
    return SVG_HEAD + "<defs>" + "".join(defs) + f'</defs><use href="#l{levels - 1}"/></svg>'


def _use_chain(n: int) -> str:
    uses = "".join(f'<use id="u{i}" href="#u{i + 1}"/>' for i in range(n))
    return SVG_HEAD + "<defs>" + uses + f'<path id="u{n}" d="M0 0 L5 5"/></defs><use href="#u0"/></svg>'


def _group_chain(n: int) -> str:
    groups = '<g id="g0"><path d="M0 0 L5 5"/></g>' + "".join(f'<g id="g{i}"><use href="#g{i - 1}"/></g>'
                                                             for i in range(1, n))
    return SVG_HEAD + "<defs>" + groups + f'</defs><use href="#g{n - 1}"/></svg>'


SVGS = {
    "use refers to itself": (lambda: SVG_HEAD + '<use id="a" href="#a"/></svg>', "cycle"),
    "use refers to its group": (lambda: SVG_HEAD + '<g id="g"><path d="M0 0 L5 5"/><use href="#g"/></g></svg>',
                                "cycle"),
    "xlink use refers to its ancestor": (
        lambda: SVG_HEAD + '<g id="top"><g><g><use xlink:href="#top"/></g></g></g></svg>', "cycle"),
    "two uses refer to each other": (
        lambda: SVG_HEAD + '<defs><use id="a" href="#b"/><use id="b" href="#a"/></defs><use href="#a"/></svg>',
        "cycle"),
    "billion laughs 10 x 10": (lambda: _laughs(10, 10), "more than 500,000 elements"),
    "laughs 7 x 10": (lambda: _laughs(7, 10), "more than 500,000 elements"),
    "laughs 30 x 2": (lambda: _laughs(30, 2), "more than 500,000 elements"),
    "use chain of 10,000": (lambda: _use_chain(10_000), "more than 200 levels"),
    "group chain of 300 through uses": (lambda: _group_chain(300), "more than 200 levels"),
    "10,000 nested groups": (lambda: _nested("g", 10_000), "more than 200 levels of nesting"),
    "201 nested groups": (lambda: _nested("g", 201), "more than 200 levels of nesting"),
    "1,000 nested svgs": (lambda: _nested("svg", 1_000), "more than 200 levels of nesting"),
    "50 MB path data": (lambda: SVG_HEAD + '<path d="M0 0' + " L1 1" * 10_000_000 + '"/></svg>',
                        "longer than 10,000,000 characters"),
    "10 million path commands": (lambda: SVG_HEAD + ('<path d="M0 0' + "l1 1" * 200_000 + '"/>') * 50 + "</svg>",
                                 "more than 4,000,000 path commands"),
    "huge polyline": (lambda: SVG_HEAD + ('<polyline points="' + "1,1 " * 1_000_000 + '"/>') * 5 + "</svg>",
                      "more than 4,000,000 path commands"),
    "600,000 elements": (lambda: SVG_HEAD + "<g/>" * 600_000 + "</svg>", "more than 500,000 elements"),
    "70 MB file": (lambda: SVG_HEAD + "<!--" + "x" * (70 * 2**20) + "--></svg>", "larger than 64 MiB"),
    "entities": (lambda: '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
                         + SVG_HEAD + "<text>&b;</text></svg>", "entities"),
    "unclosed tag": (lambda: SVG_HEAD + "<g><path d='M0 0 L1 1'/></svg>", "not well-formed"),
    "truncated": (lambda: (SVG_HEAD + '<path d="M0 0 L5 5"/></svg>')[:60], "not well-formed"),
    "empty file": (lambda: "", "not well-formed"),
    "not svg": (lambda: "<html><body/></html>", "not an SVG file"),
    "binary": (lambda: bytes(range(256)) * 8, "not well-formed"),
    "invalid utf-8": (lambda: SVG_HEAD.encode() + b"<text>\xff\xfe</text></svg>", "not well-formed"),
    "nul bytes": (lambda: SVG_HEAD.encode() + b"\0\0\0</svg>", "not well-formed"),
}


@pytest.mark.parametrize("name", SVGS)
def test_a_hostile_svg_is_refused_in_one_line(run_cli, tmp_path, name):
    make, message = SVGS[name]
    content = make()
    svg = tmp_path / "in.svg"
    svg.write_bytes(content.encode() if isinstance(content, str) else content)
    out = tmp_path / "out.gcode"
    out.write_bytes(OLD)
    result = run_limited(run_cli, "plan", svg, "-o", out)
    assert_refused(result, message)
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.svg", "out.gcode"]


def test_an_svg_that_uses_a_shape_a_few_times_passes_the_scan(tmp_path):
    svg = tmp_path / "ok.svg"
    svg.write_text(_laughs(4, 10))  # 1,000 paths once expanded
    assert parse_svg(svg).tag.endswith("svg")


# ------------------------------------------------------------------------------------------------ G-code

GCODES = {
    "nul bytes": (b"G21\nG90\nG0 X1\0\0 Y1\n", "line 3: NUL bytes or control characters"),
    "escape character": (b"G21\n\x1b[2J\n", "line 2: NUL bytes or control characters"),
    "invalid utf-8": (b"G21\nG90\n(caf\xe9)\n", "line 3: not UTF-8"),
    "random binary": (bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)), "line "),
    "png data": (_encoded(Image.new("L", (8, 8)), "PNG"), "line 1:"),
    "300 characters": (b"G21\n" + b"G1 X1" + b" " * 295 + b"\n", "line 2: longer than 256 characters"),
    "10 MB line": (b"G21\nG90\nG1 X" + b"1" * 10_000_000 + b"\n", "line 3: longer than 256 characters"),
    "empty": (b"", "no G-code commands in"),
    "blank lines": (b"\n\n   \n\t\n", "no G-code commands in"),
    "only comments": (b"; a program\n(made by nobody)\n  ; nothing\n", "no G-code commands in"),
}


@pytest.mark.parametrize("name", GCODES)
def test_a_hostile_gcode_file_is_refused_by_simulate(run_cli, tmp_path, name):
    data, message = GCODES[name]
    program = tmp_path / "in.gcode"
    program.write_bytes(data)
    out = tmp_path / "out.png"
    out.write_bytes(OLD)
    result = run_limited(run_cli, "simulate", program, "-o", out)
    assert_refused(result, message)
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gcode", "out.png"]


@pytest.mark.parametrize("name", ["nul bytes", "invalid utf-8", "300 characters", "empty", "only comments"])
def test_a_hostile_gcode_file_is_refused_by_send_before_any_journal(run_cli, tmp_path, name):
    data, message = GCODES[name]
    program = tmp_path / "in.gcode"
    program.write_bytes(data)
    result = run_limited(run_cli, "send", program, "--port", "sim", "--quiet")
    assert_refused(result, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gcode"]


# ---------------------------------------------------------------------------------------------- journals

PROGRAM = "G21\nG90\nG0 X1 Y1\n"  # 3 lines


def _header(path: Path, **change) -> str:
    fields = {"program": str(path), "sha256": hashlib.sha256(PROGRAM.encode()).hexdigest(), "profile": None}
    fields.update(change)
    return "strokebot-journal 1 " + json.dumps(fields)


JOURNALS = {
    "header not json": (lambda p: "strokebot-journal 1 {program\n1\n", "header is damaged"),
    "header a list": (lambda p: 'strokebot-journal 1 ["a", "b", null]\n1\n', "header is damaged"),
    "header a number": (lambda p: "strokebot-journal 1 42\n1\n", "header is damaged"),
    "header missing sha256": (lambda p: 'strokebot-journal 1 {"program": "/a", "profile": null}\n', "header is damaged"),
    "header extra field": (lambda p: _header(p, extra=1) + "\n1\n", "header is damaged"),
    "program a number": (lambda p: _header(p, program=7) + "\n1\n", "'program' must be"),
    "program relative": (lambda p: _header(p, program="in.gcode") + "\n1\n", "'program' must be"),
    "program null": (lambda p: _header(p, program=None) + "\n1\n", "'program' must be"),
    "sha256 a number": (lambda p: _header(p, sha256=123) + "\n1\n", "'sha256' must be"),
    "sha256 too short": (lambda p: _header(p, sha256="abc") + "\n1\n", "'sha256' must be"),
    "profile a list": (lambda p: _header(p, profile=["x"]) + "\n1\n", "'profile' must be"),
    "profile empty": (lambda p: _header(p, profile="") + "\n1\n", "'profile' must be"),
    "record a word": (lambda p: _header(p) + "\n1\nabc\n", "line 3 of the journal is damaged"),
    "record negative": (lambda p: _header(p) + "\n1\n-3\n", "line 3 of the journal is damaged"),
    "record zero": (lambda p: _header(p) + "\n0\n", "names program line 0"),
    "record fraction": (lambda p: _header(p) + "\n1\n1.5\n", "line 3 of the journal is damaged"),
    "record exponent": (lambda p: _header(p) + "\n1e0\n", "line 2 of the journal is damaged"),
    "record padded": (lambda p: _header(p) + "\n 1\n", "line 2 of the journal is damaged"),
    "record underscored": (lambda p: _header(p) + "\n1_0\n", "line 2 of the journal is damaged"),
    "record json": (lambda p: _header(p) + '\n{"line": 1}\n', "line 2 of the journal is damaged"),
    "record past the program": (lambda p: _header(p) + "\n1\n2\n4\n", "names program line 4, but the program has 3"),
    "record huge": (lambda p: _header(p) + "\n1\n999999999999\n", "names program line 999999999999"),
    "record of 5000 digits": (lambda p: _header(p) + "\n" + "9" * 5000 + "\n", "line 2 of the journal is damaged"),
    "rewind a word": (lambda p: _header(p) + "\n1\nrewind x\n", "line 3 of the journal is damaged"),
    "rewind negative": (lambda p: _header(p) + "\n1\nrewind -1\n", "line 3 of the journal is damaged"),
    "rewind zero": (lambda p: _header(p) + "\n1\nrewind 0\n", "names program line 0"),
    "rewind past the program": (lambda p: _header(p) + "\n1\nrewind 5\n", "names program line 5"),
    "no header": (lambda p: "1\n2\n", "is not a strokebot journal"),
    "empty": (lambda p: "", "is not a strokebot journal"),
}


@pytest.mark.parametrize("name", JOURNALS)
def test_a_hostile_journal_is_refused_at_resume(run_cli, tmp_path, name):
    make, message = JOURNALS[name]
    program = tmp_path / "in.gcode"
    program.write_text(PROGRAM)
    journal = tmp_path / "in.gcode.journal"
    journal.write_text(make(program))
    before = journal.read_bytes()
    result = run_limited(run_cli, "send", "--resume", journal, "--port", "sim", "--quiet")
    assert_refused(result, message)
    assert journal.read_bytes() == before
    assert str(journal) in result.stderr


@pytest.mark.parametrize("data", [b"strokebot-journal 1 \xff\xfe\n1\n", b"\0" * 64])
def test_a_binary_journal_is_refused_at_resume(run_cli, tmp_path, data):
    journal = tmp_path / "j.journal"
    journal.write_bytes(data)
    result = run_limited(run_cli, "send", "--resume", journal, "--port", "sim", "--quiet")
    assert_refused(result, str(journal))
    assert journal.read_bytes() == data
