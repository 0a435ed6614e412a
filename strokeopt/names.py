"""Names the command line offers before any work (default VGG16 layers), kept free of torch for a quick start-up."""

from __future__ import annotations

DEFAULT_VGG_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
