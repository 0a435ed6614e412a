"""MyPaint's brush engine (libmypaint) through ctypes: one action in, the stroke the real engine paints out.

Each stroke gets a fresh brush and a fresh surface, so a stroke's pixels depend only on its action, the
brush file and the canvas size (bit-deterministic). With ``engine_noise`` one brush is kept for a run of
strokes instead, so the engine's own random generator moves on from stroke to stroke, as in a painting
session (reproducible for the same sequence of actions).
"""

from __future__ import annotations

import colorsys
import ctypes
import ctypes.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from strokeopt.painters.actions import COLOUR, PRESSURE, SIZE, bezier_samples, check_actions, radius_px

LIBRARY_NAMES = ("libmypaint-1.5.so.1", "libmypaint-1.6.so.1", "libmypaint.so")
BRUSH_DIRS = (Path("/usr/share/mypaint-data/2.0/brushes"), Path("/usr/share/mypaint-data/1.0/brushes"))
DEFAULT_BRUSH = "classic/bulk"  # deterministic, pressure sets its hardness and opacity
INSTALL_HINT = "apt-get install libmypaint-1.5-1 mypaint-brushes"
TILE_PX = 64  # libmypaint's tile side
FIX15_ONE = 1 << 15  # libmypaint stores channels as 15-bit fixed point, premultiplied by alpha
EVENTS = 48  # motion events along the Bézier
EVENT_SECONDS = 0.015  # time between motion events: every stroke lasts the same 0.7 s
SETTLE_EVENTS = 6  # events held at the end point so slow position tracking arrives there


class MyPaintMissing(RuntimeError):
    """libmypaint or the MyPaint brushes are not installed."""


class BrushError(ValueError):
    """A brush that cannot be found or read."""


class _TileRequest(ctypes.Structure):
    _fields_ = [
        ("tx", ctypes.c_int), ("ty", ctypes.c_int), ("readonly", ctypes.c_int),
        ("buffer", ctypes.POINTER(ctypes.c_uint16)), ("context", ctypes.c_void_p),
        ("thread_id", ctypes.c_int), ("mipmap_level", ctypes.c_int),
    ]


_library: ctypes.CDLL | None = None


def load_library() -> ctypes.CDLL:
    """libmypaint with the prototypes used here, loaded once; ``MyPaintMissing`` says how to install it."""
    global _library
    if _library is not None:
        return _library
    names = list(LIBRARY_NAMES)
    found = ctypes.util.find_library("mypaint-1.5")
    if found:
        names.insert(0, found)
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        raise MyPaintMissing(f"libmypaint is not installed; install it with: {INSTALL_HINT}")
    p, f, i, d = ctypes.c_void_p, ctypes.c_float, ctypes.c_int, ctypes.c_double
    prototypes = {
        "mypaint_brush_new": (p, []),
        "mypaint_brush_unref": (None, [p]),
        "mypaint_brush_from_string": (i, [p, ctypes.c_char_p]),
        "mypaint_brush_setting_from_cname": (i, [ctypes.c_char_p]),
        "mypaint_brush_set_base_value": (None, [p, i, f]),
        "mypaint_brush_get_base_value": (f, [p, i]),
        "mypaint_brush_reset": (None, [p]),
        "mypaint_brush_new_stroke": (None, [p]),
        "mypaint_brush_stroke_to": (i, [p, p, f, f, f, f, f, d, f, f, f]),
        "mypaint_fixed_tiled_surface_new": (p, [i, i]),
        "mypaint_surface_unref": (None, [p]),
        "mypaint_surface_begin_atomic": (None, [p]),
        "mypaint_surface_end_atomic": (None, [p, p]),
        "mypaint_tile_request_init": (None, [ctypes.POINTER(_TileRequest), i, i, i, i]),
        "mypaint_tiled_surface_tile_request_start": (None, [p, ctypes.POINTER(_TileRequest)]),
        "mypaint_tiled_surface_tile_request_end": (None, [p, ctypes.POINTER(_TileRequest)]),
    }
    for name, (restype, argtypes) in prototypes.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    _library = lib
    return lib


def brush_path(name: str) -> Path:
    """The ``.myb`` file of a brush named like ``classic/dry_brush`` (or a path to a ``.myb`` file)."""
    given = Path(name)
    if given.suffix == ".myb" and given.is_file():
        return given
    for folder in BRUSH_DIRS:
        candidate = folder / f"{name}.myb"
        if candidate.is_file():
            return candidate
    if not any(folder.is_dir() for folder in BRUSH_DIRS):
        raise MyPaintMissing(f"the MyPaint brushes are not installed; install them with: {INSTALL_HINT}")
    raise BrushError(f"no MyPaint brush named {name!r}; see `strokebot painter brushes` for the names")


def brush_names() -> list[str]:
    """Every installed brush as ``folder/name``."""
    for folder in BRUSH_DIRS:
        if folder.is_dir():
            return sorted(str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.myb"))
    return []


@dataclass(frozen=True)
class Brush:
    """A brush's name and its settings as libmypaint reads them (the ``.myb`` JSON text)."""

    name: str
    json_text: str

    @classmethod
    def load(cls, name: str = DEFAULT_BRUSH) -> "Brush":
        path = brush_path(name)
        try:
            text = path.read_text(encoding="utf-8")
            json.loads(text)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BrushError(f"cannot read brush {path}: {error}") from None
        return cls(name, text)


class MyPaintPainter:
    """Renders actions with libmypaint onto a white ``canvas_px`` square canvas."""

    def __init__(self, brush: Brush, canvas_px: int = 64, engine_noise: bool = False) -> None:
        self.lib = load_library()
        self.brush = brush
        self.canvas_px = canvas_px
        self.engine_noise = engine_noise
        self._settings = {
            name: self.lib.mypaint_brush_setting_from_cname(name.encode())
            for name in ("radius_logarithmic", "color_h", "color_s", "color_v")
        }
        self._kept_brush: int | None = None

    def close(self) -> None:
        if self._kept_brush is not None:
            self.lib.mypaint_brush_unref(self._kept_brush)
            self._kept_brush = None

    def __enter__(self) -> "MyPaintPainter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def paint(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RGB on white (N, H, W, 3) and alpha (N, H, W), both uint8, for actions (N, 12)."""
        actions = check_actions(actions)
        size = self.canvas_px
        rgb = np.empty((len(actions), size, size, 3), dtype=np.uint8)
        alpha = np.empty((len(actions), size, size), dtype=np.uint8)
        for k, action in enumerate(actions):
            premultiplied = self._paint_one(action)  # (H, W, 4) in [0, 1]
            a = premultiplied[..., 3]
            rgb[k] = _to_uint8(premultiplied[..., :3] + (1.0 - a[..., None]))
            alpha[k] = _to_uint8(a)
        return rgb, alpha

    def _new_brush(self) -> int:
        lib = self.lib
        brush = lib.mypaint_brush_new()
        if not lib.mypaint_brush_from_string(brush, self.brush.json_text.encode()):
            lib.mypaint_brush_unref(brush)
            raise BrushError(f"libmypaint could not read brush {self.brush.name!r}")
        return brush

    def _paint_one(self, action: np.ndarray) -> np.ndarray:
        lib = self.lib
        if self.engine_noise:
            if self._kept_brush is None:
                self._kept_brush = self._new_brush()
            brush = self._kept_brush
            lib.mypaint_brush_reset(brush)
        else:
            brush = self._new_brush()
        surface = lib.mypaint_fixed_tiled_surface_new(self.canvas_px, self.canvas_px)
        try:
            self._clear(surface)
            hue, saturation, value = colorsys.rgb_to_hsv(*action[COLOUR])
            lib.mypaint_brush_set_base_value(brush, self._settings["color_h"], hue)
            lib.mypaint_brush_set_base_value(brush, self._settings["color_s"], saturation)
            lib.mypaint_brush_set_base_value(brush, self._settings["color_v"], value)
            radius = float(radius_px(action[SIZE], self.canvas_px))
            lib.mypaint_brush_set_base_value(brush, self._settings["radius_logarithmic"], float(np.log(radius)))
            lib.mypaint_brush_new_stroke(brush)
            path = bezier_samples(action[None], self.canvas_px, EVENTS)[0]
            pressure = np.linspace(action[PRESSURE][0], action[PRESSURE][1], EVENTS)
            path = np.concatenate([path, np.repeat(path[-1:], SETTLE_EVENTS, axis=0)])
            pressure = np.concatenate([pressure, np.repeat(pressure[-1:], SETTLE_EVENTS)])
            lib.mypaint_surface_begin_atomic(surface)
            stroke_to = lib.mypaint_brush_stroke_to
            x0, y0 = path[0]
            stroke_to(brush, surface, x0, y0, 0.0, 0.0, 0.0, 10.0, 1.0, 0.0, 0.0)  # place the brush, lifted
            for (x, y), p in zip(path, pressure):
                stroke_to(brush, surface, x, y, p, 0.0, 0.0, EVENT_SECONDS, 1.0, 0.0, 0.0)
            x1, y1 = path[-1]
            stroke_to(brush, surface, x1, y1, 0.0, 0.0, 0.0, EVENT_SECONDS, 1.0, 0.0, 0.0)  # lift
            rectangle = (ctypes.c_int * 8)()  # room for either form of the changed-area argument
            lib.mypaint_surface_end_atomic(surface, ctypes.cast(rectangle, ctypes.c_void_p))
            return self._read(surface)
        finally:
            lib.mypaint_surface_unref(surface)
            if not self.engine_noise:
                lib.mypaint_brush_unref(brush)

    def _tiles(self, surface: int, readonly: bool):
        """Each tile's (tx, ty, uint16 view of its pixels), held open while the caller looks at it."""
        tiles = -(-self.canvas_px // TILE_PX)
        request = _TileRequest()
        for ty in range(tiles):
            for tx in range(tiles):
                self.lib.mypaint_tile_request_init(ctypes.byref(request), 0, tx, ty, int(readonly))
                self.lib.mypaint_tiled_surface_tile_request_start(surface, ctypes.byref(request))
                try:
                    yield tx, ty, np.ctypeslib.as_array(request.buffer, shape=(TILE_PX, TILE_PX, 4))
                finally:
                    self.lib.mypaint_tiled_surface_tile_request_end(surface, ctypes.byref(request))

    def _clear(self, surface: int) -> None:
        """Make the surface transparent (libmypaint starts a fixed surface opaque white) to read alpha back."""
        for _, _, tile in self._tiles(surface, readonly=False):
            tile[...] = 0

    def _read(self, surface: int) -> np.ndarray:
        """The surface's pixels as premultiplied RGBA floats (H, W, 4)."""
        tiles = -(-self.canvas_px // TILE_PX)
        out = np.empty((tiles * TILE_PX, tiles * TILE_PX, 4), dtype=np.float32)
        for tx, ty, tile in self._tiles(surface, readonly=True):
            out[ty * TILE_PX:(ty + 1) * TILE_PX, tx * TILE_PX:(tx + 1) * TILE_PX] = tile / FIX15_ONE
        return np.clip(out[: self.canvas_px, : self.canvas_px], 0.0, 1.0)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
