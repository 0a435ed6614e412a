"""Loading the target picture: any image Pillow reads, as a grayscale or RGB array resized to the fit resolution.

Every mode Pillow opens is read at its own depth: 16-bit and 32-bit integer images (``I;16``, ``I``) as
0..65535, float images (``F``) as 0..1, palette, CMYK and the rest through RGB; a transparent image is
composited onto white paper. A picture larger than :data:`MAX_SOURCE_PIXELS` is refused from its header,
before it is decoded, and so is one smaller than :data:`MIN_SOURCE_SIDE_PX` on a side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_SIZE_PX = 4096
MAX_SOURCE_PIXELS = 80_000_000  # below Pillow's own bomb threshold (89.5 Mpx), so ours is the one that speaks
MIN_SOURCE_SIDE_PX = 8
_WIDE_MODES = {"I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0, "I": 65535.0, "F": 1.0}


class ImageError(ValueError):
    """An input picture that cannot be used."""


def load_grayscale(path: str | Path, size_px: int) -> np.ndarray:
    """The image at ``path`` as float32 grayscale (H, W) in [0, 1], its longer side resized to ``size_px``."""
    return _load(path, size_px, "L")


def load_rgb(path: str | Path, size_px: int) -> np.ndarray:
    """The image at ``path`` as float32 RGB (3, H, W) in [0, 1], its longer side resized to ``size_px``."""
    return _load(path, size_px, "RGB").transpose(2, 0, 1).copy()


def _load(path: str | Path, size_px: int, mode: str) -> np.ndarray:
    if not 8 <= size_px <= MAX_SIZE_PX:
        raise ImageError(f"fit size must be between 8 and {MAX_SIZE_PX} px, got {size_px}")
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"cannot read image {path}: no such file")
    try:
        with Image.open(path) as img:
            _check_size(img, path)
            img.load()
            channels = [_channel(band) for band in _to_bands(img, mode, path)]
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"image {path} is larger than {MAX_SOURCE_PIXELS / 1e6:g} megapixels") from None
    except OSError as exc:  # truncated or corrupt data
        raise ImageError(f"cannot read image {path}: {exc}") from None
    except Exception as exc:  # a damaged file can break a decoder in any way: still the user's file
        raise ImageError(f"cannot read image {path}: it is damaged ({type(exc).__name__}: {exc})") from None
    scale = size_px / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    resized = [np.asarray(c.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0), dtype=np.float32) for c in channels]
    out = np.clip(resized[0] if mode == "L" else np.stack(resized, axis=-1), 0.0, 1.0)
    return out.astype(np.float32)


def _check_size(img: Image.Image, path: Path) -> None:
    """Refuse from the header alone a picture too large to decode safely, or too small to fit."""
    width, height = img.size
    if width * height > MAX_SOURCE_PIXELS:
        raise ImageError(
            f"image {path} is {width} x {height} px, larger than {MAX_SOURCE_PIXELS / 1e6:g} megapixels"
        )
    if min(width, height) < MIN_SOURCE_SIDE_PX:
        raise ImageError(
            f"image {path} is {width} x {height} px; each side must be at least {MIN_SOURCE_SIDE_PX} px"
        )


def _to_bands(img: Image.Image, mode: str, path: Path) -> list[Image.Image]:
    """The picture as one (mode "L") or three (mode "RGB") single-band images: "F" in [0, 1], or "L"."""
    if img.mode in _WIDE_MODES:
        values = np.asarray(img, dtype=np.float64) / _WIDE_MODES[img.mode]
        if not np.isfinite(values).all():
            raise ImageError(f"image {path} has pixel values that are not finite numbers")
        band = Image.fromarray(np.clip(values, 0.0, 1.0).astype(np.float32))
        return [band] * (1 if mode == "L" else 3)
    flat = _flatten_alpha(img).convert(mode)
    return [flat] if mode == "L" else list(flat.split())


def _channel(band: Image.Image) -> Image.Image:
    """A band as a float image in [0, 1] ("F"), ready for resampling without rounding to 8 bits."""
    if band.mode == "F":
        return band
    return Image.fromarray(np.asarray(band, dtype=np.float32) / 255.0)


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite a transparent image onto white paper, so transparency reads as 'no ink'."""
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba)
    return img
