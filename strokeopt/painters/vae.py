"""The VAE painter (Nakano 2019): a variational autoencoder learns the space of stroke images, then an
action encoder learns to map actions into that space, so decoder(action_encoder(action)) paints a stroke.

Training has two phases within one run. For the first ``vae_fraction`` of the steps the VAE learns to
reconstruct stroke images (squared error plus ``beta`` times the KL divergence of its latent code, the
weight rising from 0 over the first ``kl_warmup`` of the phase so the code is not given up early); for the
rest the decoder is frozen and the action encoder learns to reproduce the images through it (image squared
error plus ``latent_weight`` times the distance of its code from the encoder's mean for the same image).
Only the decoder and the action encoder are needed to paint, so a painter file ships those two.

The decoder paints three RGB maps (Nakano's, ``factored=False``) or, by default, one coverage map and one
paint colour per stroke composed on white (``logits_to_image``): a small network learns colour far
faster that way. The helpers here (conv stacks, that decoder) serve the GAN painter too.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from strokeopt.painters.actions import ACTION_SIZE, COLOUR
from strokeopt.painters.base import Painter, register

BASE_PX = 4  # the coarsest feature map of every conv stack here is 4 x 4
MIN_CANVAS_PX = 16
MAX_CANVAS_PX = 128
WHITE_LOGIT = 2.5  # untrained decoders paint sigmoid(2.5) = 92 % white (8 % coverage)


class PainterConfigError(ValueError):
    """Painter settings that do not make a network (canvas size, widths, fractions)."""


def check_canvas(canvas_px: int) -> int:
    """The canvas side if it is a power of two in [16, 128] (the conv stacks halve it down to 4 x 4)."""
    if not isinstance(canvas_px, int) or canvas_px < MIN_CANVAS_PX or canvas_px > MAX_CANVAS_PX \
            or canvas_px & (canvas_px - 1):
        raise PainterConfigError(
            f"canvas_px must be a power of two from {MIN_CANVAS_PX} to {MAX_CANVAS_PX}; got {canvas_px!r}")
    return canvas_px


def stack_widths(canvas_px: int, channels: int) -> list[int]:
    """Channels of each conv level from the canvas down to 4 x 4: ``channels`` at 4 x 4, halving (to 8) upwards."""
    levels = int(math.log2(check_canvas(canvas_px) // BASE_PX))
    return [max(8, channels // 2 ** (levels - 1 - i)) for i in range(levels)]


def down_stack(in_channels: int, widths: list[int]) -> nn.Sequential:
    """Stride-2 4x4 convolutions with leaky ReLUs, one per width: canvas -> 4 x 4 x widths[-1]."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        in_channels = width
    return nn.Sequential(*layers)


def up_stack(widths: list[int], out_channels: int, bias: float) -> nn.Sequential:
    """The mirror of ``down_stack``: 4 x 4 x widths[-1] -> out_channels maps at the canvas, biased by ``bias``."""
    layers: list[nn.Module] = []
    reversed_widths = widths[::-1]
    for width_in, width_out in zip(reversed_widths, reversed_widths[1:] + [reversed_widths[-1]]):
        layers += [nn.ConvTranspose2d(width_in, width_out, 4, stride=2, padding=1), nn.ReLU()]
    last = nn.Conv2d(reversed_widths[-1], out_channels, 3, padding=1)
    nn.init.constant_(last.bias, bias)
    layers.append(last)
    return nn.Sequential(*layers)


class ImageDecoder(nn.Module):
    """Features (N, F) -> stroke image logits (N, 3 or 4, H, W), read by ``logits_to_image``.

    Plain (Nakano's): three RGB logit maps. Factored: one coverage logit map from the transposed
    convolutions and one paint colour per stroke (a linear map of the features), repeated over the canvas as
    three constant logit planes. Either way an untrained decoder paints almost white paper, as nearly every
    pixel of a stroke image is, so training spends its steps on the strokes.
    """

    def __init__(self, features: int, widths: list[int], factored: bool) -> None:
        super().__init__()
        self.top = widths[-1]
        self.project = nn.Sequential(nn.Linear(features, self.top * BASE_PX * BASE_PX), nn.ReLU())
        self.up = up_stack(widths, 1, -WHITE_LOGIT) if factored else up_stack(widths, 3, WHITE_LOGIT)
        self.colour = nn.Linear(features, 3) if factored else None

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        maps = self.up(self.project(features).view(-1, self.top, BASE_PX, BASE_PX))
        if self.colour is None:
            return maps
        colour = self.colour(features)[:, :, None, None].expand(-1, -1, *maps.shape[2:])
        return torch.cat([maps, colour], dim=1)


def logits_to_image(logits: torch.Tensor) -> torch.Tensor:
    """RGB on white (N, 3, H, W) from ``ImageDecoder`` logits: 3 maps, sigmoid RGB; 4, factored.

    Factored logits are coverage and paint colour, composed on white as ``1 - coverage x (1 - colour)``
    (how paint of that colour and opacity lands on white paper): shape and colour are learned apart, which
    a small network does much faster than RGB maps, where colour is a product of shape and action.
    """
    if logits.shape[1] == 3:
        return torch.sigmoid(logits)
    coverage, colour = torch.sigmoid(logits[:, :1]), torch.sigmoid(logits[:, 1:])
    return 1.0 - coverage * (1.0 - colour)


def logits_to_coverage(logits: torch.Tensor) -> torch.Tensor:
    """Coverage (N, H, W) from factored ``ImageDecoder`` logits."""
    return torch.sigmoid(logits[:, 0])


def mlp(sizes: list[int], final_activation: bool = False) -> nn.Sequential:
    """Linear layers with ReLUs between them (and after the last one with ``final_activation``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if final_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def frozen_call(module: nn.Module, *args: torch.Tensor) -> torch.Tensor:
    """``module(*args)`` with its parameters detached: gradients reach the inputs, never the module."""
    params = {name: p.detach() for name, p in module.named_parameters()}
    return torch.func.functional_call(module, params, args)


@register
class VaePainter(Painter):
    """decoder(action_encoder(action)): a stroke VAE's decoder driven by an MLP from the action."""

    kind = "vae"
    training_only: ClassVar[tuple[str, ...]] = ("encoder",)  # submodules a painter file leaves out
    default_learning_rate: ClassVar[float] = 1e-3
    default_steps: ClassVar[int] = 12000  # about 10 minutes at 64 px, batch 64, on two CPU cores

    def __init__(self, canvas_px: int = 64, latent: int = 32, channels: int = 64, hidden: int = 256,
                 beta: float = 0.005, vae_fraction: float = 0.5, latent_weight: float = 0.1,
                 kl_warmup: float = 0.5, factored: bool = True) -> None:
        super().__init__()
        if not 0.0 < vae_fraction < 1.0:
            raise PainterConfigError(f"vae_fraction must be between 0 and 1; got {vae_fraction!r}")
        if latent < 1 or channels < 8 or hidden < 1:
            raise PainterConfigError(f"latent, channels and hidden must be positive (channels >= 8); "
                                     f"got {latent}, {channels}, {hidden}")
        self.canvas_px = canvas_px
        self.latent, self.channels, self.hidden = latent, channels, hidden
        self.beta, self.vae_fraction, self.latent_weight = beta, vae_fraction, latent_weight
        self.kl_warmup = kl_warmup
        self.factored = bool(factored)
        widths = stack_widths(canvas_px, channels)
        self.encoder = nn.Sequential(down_stack(3, widths), nn.Flatten(),
                                     nn.Linear(widths[-1] * BASE_PX * BASE_PX, 2 * latent))
        self.decoder = ImageDecoder(latent, widths, self.factored)
        self.action_encoder = mlp([ACTION_SIZE, hidden, hidden, hidden, latent])

    def config(self) -> dict[str, Any]:
        return {"canvas_px": self.canvas_px, "latent": self.latent, "channels": self.channels,
                "hidden": self.hidden, "beta": self.beta, "vae_fraction": self.vae_fraction,
                "kl_warmup": self.kl_warmup, "latent_weight": self.latent_weight, "factored": self.factored}

    def forward(self, actions: torch.Tensor, mode: str = "paint", images: torch.Tensor | None = None,
                kl_weight: float = 0.0) -> torch.Tensor | dict[str, torch.Tensor]:
        """Paint actions; with ``mode`` "vae_loss" or "action_loss", the losses of one training phase.

        The losses are computed here so that one call of a ``DistributedDataParallel`` wrapper covers
        each backward pass.
        """
        if mode == "paint":
            return logits_to_image(self.decoder(self.action_encoder(actions)))
        if mode == "vae_loss":
            return self._vae_loss(images, kl_weight)
        if mode == "action_loss":
            return self._action_loss(actions, images)
        raise ValueError(f"unknown VaePainter mode {mode!r}")

    def _vae_loss(self, images: torch.Tensor, kl_weight: float) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(images).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        reconstruction = logits_to_image(self.decoder(z))
        squared = (reconstruction - images).square().flatten(1).sum(1).mean()
        kl = (-0.5 * (1 + logvar - mu.square() - logvar.exp())).sum(1).mean()
        pixels = images[0].numel()
        return {"loss": (squared + kl_weight * kl) / pixels, "recon_mse": squared.detach() / pixels,
                "kl": kl.detach()}

    def _action_loss(self, actions: torch.Tensor, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            target_mu = self.encoder(images).chunk(2, dim=1)[0]
        z = self.action_encoder(actions)
        painted = logits_to_image(frozen_call(self.decoder, z))
        mse = (painted - images).square().mean()
        latent = (z - target_mu).square().mean()
        return {"loss": mse + self.latent_weight * latent, "mse": mse.detach(), "latent_mse": latent.detach()}

    def coverage(self, actions: torch.Tensor) -> torch.Tensor:
        """Ink coverage (N, H, W) of the strokes painted black: the factored decoder's coverage map itself."""
        if not self.factored:
            return super().coverage(actions)
        black = actions.clone()
        black[:, COLOUR] = 0.0
        return logits_to_coverage(self.decoder(self.action_encoder(black)))

    def make_optimisers(self, learning_rate: float) -> list[torch.optim.Optimizer]:
        vae = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return [torch.optim.Adam(vae, lr=learning_rate),
                torch.optim.Adam(self.action_encoder.parameters(), lr=learning_rate)]

    def in_vae_phase(self, step: int, total_steps: int) -> bool:
        """Whether this step still trains the VAE (else the action encoder through the frozen decoder)."""
        return step < self.vae_fraction * total_steps

    def train_step(
        self, actions: torch.Tensor, images: torch.Tensor, optimisers: list[torch.optim.Optimizer], step: int,
        total_steps: int, model: nn.Module | None = None,
    ) -> dict[str, float]:
        model = model or self
        vae_phase = self.in_vae_phase(step, total_steps)
        optimiser = optimisers[0] if vae_phase else optimisers[1]
        optimiser.zero_grad(set_to_none=True)
        if vae_phase:
            warmup_steps = self.kl_warmup * self.vae_fraction * total_steps
            kl_weight = self.beta * min(1.0, step / warmup_steps) if warmup_steps > 0 else self.beta
            losses = model(actions, mode="vae_loss", images=images, kl_weight=kl_weight)
        else:
            losses = model(actions, mode="action_loss", images=images)
        losses["loss"].backward()
        optimiser.step()
        return {name: float(value.detach()) for name, value in losses.items() if name != "loss"}
