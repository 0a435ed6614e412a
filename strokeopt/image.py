"""Loading the target picture: any image Pillow reads, as a grayscale array resized to the fit resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_SIZE_PX = 4096
MAX_SOURCE_PIXELS = 200_000_000


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
            if img.width * img.height > MAX_SOURCE_PIXELS:
                raise ImageError(f"image {path} is too large ({img.width} x {img.height} px)")
            gray = _flatten_alpha(img).convert(mode)
            scale = size_px / max(gray.size)
            size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
            resized = gray.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image Pillow can read") from None
    except (OSError, Image.DecompressionBombError) as exc:
        raise ImageError(f"cannot read image {path}: {exc}") from None
    return np.asarray(resized, dtype=np.float32) / 255.0


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite a transparent image onto white paper, so transparency reads as 'no ink'."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba)
    return img
