"""The painters shipped with strokebot, found by name (``neural:guided``), or any painter file by path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from strokeopt.painters.base import Painter
from strokeopt.painters.painter_file import PainterFileError, load_painter

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
PREFIX = "neural:"


def shipped_painters() -> list[str]:
    """Names of the shipped painters, as ``neural:NAME``."""
    return sorted(f"{PREFIX}{path.stem}" for path in SHIPPED_DIR.glob("*.pt"))


def _shipped_list() -> str:
    return ", ".join(shipped_painters()) or "none are installed"


def painter_path(spec: str) -> Path:
    """The file a painter name (``neural:NAME``) or path stands for; a clear error when there is none."""
    if spec.startswith(PREFIX):
        path = SHIPPED_DIR / f"{spec[len(PREFIX):]}.pt"
        if not path.is_file():
            raise PainterFileError(f"no shipped painter named {spec!r}; shipped: {_shipped_list()}")
        return path
    path = Path(spec)
    if not path.is_file():
        raise PainterFileError(f"painter {spec!r} is neither a shipped painter ({_shipped_list()}) "
                               f"nor a file")
    return path


def load_named_painter(spec: str, device: str | torch.device = "cpu") -> tuple[Painter, dict[str, Any]]:
    """The painter ``spec`` names (``neural:NAME`` or a painter file's path) and its file's fields."""
    return load_painter(painter_path(spec), device)
