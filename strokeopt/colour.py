"""What each stroke's ink does to the light: one black pen, a palette of pens, or free paint.

Ink is subtractive: a stroke takes away ``absorbance = opacity x (1 - ink colour)`` of each channel where
it covers the paper. A palette's assignment of strokes to pens is optimised softly (a softmax over pens)
and then fixed to the likeliest pen, so that every stroke ends up drawable by one real pen.
"""

from __future__ import annotations

import torch

COLOUR_MODES = ("black", "pens", "paint")
ASSIGN_TEMPERATURE = 0.3
INIT_SHARPNESS = 8.0  # how strongly a new stroke's pen follows the target colour under it


def hex_to_rgb(color: str) -> tuple[float, float, float]:
    """'#rrggbb' -> (r, g, b) in [0, 1]."""
    return tuple(int(color[i : i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


def rgb_to_hex(rgb) -> str:
    return "#" + "".join(f"{round(float(min(max(v, 0.0), 1.0)) * 255):02x}" for v in rgb)


class BlackPen:
    """One black pen on a grayscale picture: no colour parameters, absorbance 1."""

    def __init__(self, count: int, width_px: float, device: torch.device) -> None:
        self.widths = torch.full((count,), width_px, device=device)

    def parameters(self) -> list[torch.Tensor]:
        return []

    def absorb_and_widths(self, step: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        return None, self.widths

    def restart(self, strokes: torch.Tensor, target_colour: torch.Tensor) -> None:
        """Nothing to restart for a black pen."""

    def pens(self) -> torch.Tensor:
        return torch.zeros(len(self.widths), dtype=torch.long)


class PenPalette:
    """Strokes shared among pens of given ink colours (P, 3) and widths (P,), assigned softly, then fixed."""

    def __init__(self, inks: torch.Tensor, widths_px: torch.Tensor, target_colour: torch.Tensor,
                 fix_at_step: int) -> None:
        self.inks = inks
        self.pen_widths = widths_px
        self.fix_at_step = fix_at_step
        self.logits = self._logits_for(target_colour).requires_grad_(True)
        self.fixed: torch.Tensor | None = None

    def _logits_for(self, target_colour: torch.Tensor) -> torch.Tensor:
        """Prefer pens whose ink is close to the target colour under each stroke (N, 3)."""
        distance = (target_colour[:, None, :] - self.inks[None, :, :]).square().sum(-1)
        return -INIT_SHARPNESS * distance

    def parameters(self) -> list[torch.Tensor]:
        return [self.logits]

    def weights(self, step: int) -> torch.Tensor:
        if step >= self.fix_at_step and self.fixed is None:
            self.fixed = torch.nn.functional.one_hot(self.logits.detach().argmax(1), len(self.inks)).float()
        if self.fixed is not None:
            return self.fixed
        return torch.softmax(self.logits / ASSIGN_TEMPERATURE, dim=1)

    def absorb_and_widths(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.weights(step)
        return 1.0 - w @ self.inks, w @ self.pen_widths

    def restart(self, strokes: torch.Tensor, target_colour: torch.Tensor) -> None:
        with torch.no_grad():
            fresh = self._logits_for(target_colour)
            self.logits[strokes] = fresh
            if self.fixed is not None:
                self.fixed[strokes] = torch.nn.functional.one_hot(fresh.argmax(1), len(self.inks)).float()

    def pens(self) -> torch.Tensor:
        return self.logits.detach().argmax(1).cpu()


class FreePaint:
    """Every stroke has its own RGB colour and opacity (for brush robots), both learned."""

    def __init__(self, target_colour: torch.Tensor, width_px: float) -> None:
        count = len(target_colour)
        self.colour_logits = torch.logit(target_colour.clamp(0.02, 0.98)).requires_grad_(True)
        self.opacity_logits = torch.full((count,), 2.0, device=target_colour.device, requires_grad=True)
        self.widths = torch.full((count,), width_px, device=target_colour.device)

    def parameters(self) -> list[torch.Tensor]:
        return [self.colour_logits, self.opacity_logits]

    def colours(self) -> torch.Tensor:
        return torch.sigmoid(self.colour_logits)

    def opacity(self) -> torch.Tensor:
        return torch.sigmoid(self.opacity_logits)

    def absorb_and_widths(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.opacity()[:, None] * (1.0 - self.colours()), self.widths

    def restart(self, strokes: torch.Tensor, target_colour: torch.Tensor) -> None:
        with torch.no_grad():
            self.colour_logits[strokes] = torch.logit(target_colour.clamp(0.02, 0.98))
            self.opacity_logits[strokes] = 2.0

    def pens(self) -> torch.Tensor:
        return torch.zeros(len(self.widths), dtype=torch.long)
