"""Pictures a person looks at: grayscale arrays as images, and the side-by-side preview with a caption."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PANEL_HEIGHT_PX = 480
CAPTION_HEIGHT_PX = 44


def to_image(pixels: np.ndarray) -> Image.Image:
    """A [0, 1] float array, (H, W) grayscale or (3, H, W) colour, as an 8-bit image."""
    data = np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)
    if data.ndim == 3:
        return Image.fromarray(np.ascontiguousarray(data.transpose(1, 2, 0)), mode="RGB")
    return Image.fromarray(data, mode="L")


def to_array(image: Image.Image, size: tuple[int, int] | None = None, colour: bool = False) -> np.ndarray:
    """An image as [0, 1] floats, (H, W) grayscale or (3, H, W) colour, box-resampled to ``size`` (w, h)."""
    converted = image.convert("RGB" if colour else "L")
    if size is not None and converted.size != size:
        converted = converted.resize(size, Image.Resampling.BOX)
    pixels = np.asarray(converted, dtype=np.float64) / 255.0
    return pixels.transpose(2, 0, 1) if colour else pixels


def side_by_side(panels: Sequence[tuple[str, Image.Image]], caption: str) -> Image.Image:
    """Panels scaled to one height, each titled, in a row above a caption (lines split at newlines)."""
    scaled = []
    for title, image in panels:
        w = max(1, round(image.width * PANEL_HEIGHT_PX / image.height))
        scaled.append((title, image.convert("RGB").resize((w, PANEL_HEIGHT_PX), Image.Resampling.LANCZOS)))
    gap = 12
    width = sum(img.width for _, img in scaled) + gap * (len(scaled) + 1)
    extra_lines = caption.count("\n")
    sheet = Image.new("RGB", (width, PANEL_HEIGHT_PX + (2 + extra_lines // 2 + extra_lines % 2) * CAPTION_HEIGHT_PX),
                      "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(16)
    x = gap
    for title, img in scaled:
        draw.text((x, 12), title, fill="black", font=font)
        sheet.paste(img, (x, CAPTION_HEIGHT_PX))
        draw.rectangle([x - 1, CAPTION_HEIGHT_PX - 1, x + img.width, CAPTION_HEIGHT_PX + img.height], outline="#999999")
        x += img.width + gap
    draw.multiline_text((gap, CAPTION_HEIGHT_PX + PANEL_HEIGHT_PX + 12), caption, fill="black", font=font, spacing=6)
    return sheet


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()
