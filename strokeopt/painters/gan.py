"""The GAN painter (Nakano 2019): a conditional Wasserstein GAN with gradient penalty, whose generator paints.

The generator turns an action into a stroke image (an MLP, then transposed convolutions up to the canvas);
the critic scores an image together with its action (the action enters twice: as constant input channels
beside the image and its pixel coordinates, and again beside the image features before the score). Each
training step makes ``n_critic`` critic updates on slices of the batch (Wasserstein loss plus
``gp_weight`` x the gradient penalty) and one generator update, whose loss adds ``recon_weight`` x the
squared error to the real stroke, summed over its pixels: that keeps the generator a faithful renderer of
*this* action rather than of any plausible stroke. (Summed, the error's gradient outweighs the critic's,
which the penalty holds near 1 per image, at any canvas size; a mean absolute error instead pulls an
untrained generator to blank paper, the median of stroke pixels.) The generator's last stage is the VAE
painter's image decoder, factored (coverage and colour) by default. Only the generator is needed to paint,
so a painter file ships it alone.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from strokeopt.painters.actions import ACTION_SIZE, COLOUR
from strokeopt.painters.base import Painter, register
from strokeopt.painters.vae import (
    BASE_PX, ImageDecoder, PainterConfigError, down_stack, frozen_call, logits_to_coverage, logits_to_image, mlp,
    stack_widths,
)


class _Generator(nn.Module):
    """Action (N, 12) -> stroke image logits (N, 3 or 4, canvas, canvas), read by ``logits_to_image``."""

    def __init__(self, widths: list[int], hidden: int, factored: bool) -> None:
        super().__init__()
        self.features = mlp([ACTION_SIZE, hidden, hidden], final_activation=True)
        self.decoder = ImageDecoder(hidden, widths, factored)

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.features(actions))


class _Critic(nn.Module):
    """(image (N, 3, H, W), action (N, 12)) -> Wasserstein score (N,)."""

    def __init__(self, canvas_px: int, widths: list[int], hidden: int) -> None:
        super().__init__()
        centres = (torch.arange(canvas_px, dtype=torch.float32) + 0.5) / canvas_px
        yy, xx = torch.meshgrid(centres, centres, indexing="ij")
        self.register_buffer("coords", torch.stack([xx, yy])[None], persistent=False)
        self.features = nn.Sequential(down_stack(3 + 2 + ACTION_SIZE, widths), nn.Flatten())
        self.action = mlp([ACTION_SIZE, hidden], final_activation=True)
        self.hidden = mlp([widths[-1] * BASE_PX * BASE_PX + hidden, hidden], final_activation=True)
        # the score is a dot product with a weight vector (no bias: it cancels in the Wasserstein distance);
        # a (1, hidden) Linear weight gets odd gradient strides from the penalty's double backward, which
        # DistributedDataParallel warns about at every step
        self.score = nn.Parameter(torch.randn(hidden) / hidden**0.5)

    def forward(self, images: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        planes = torch.cat([images, self.coords.expand(n, -1, -1, -1).to(images.dtype),
                            actions[:, :, None, None].expand(-1, -1, h, w)], dim=1)
        return self.hidden(torch.cat([self.features(planes), self.action(actions)], dim=1)) @ self.score


@register
class GanPainter(Painter):
    """generator(action): the generator of a conditional WGAN-GP with a reconstruction term."""

    kind = "gan"
    training_only: ClassVar[tuple[str, ...]] = ("critic",)  # submodules a painter file leaves out
    default_learning_rate: ClassVar[float] = 2e-4
    default_steps: ClassVar[int] = 3000  # about 10 minutes at 64 px, batch 64, on two CPU cores

    def __init__(self, canvas_px: int = 64, channels: int = 64, hidden: int = 256, n_critic: int = 3,
                 gp_weight: float = 10.0, recon_weight: float = 1.0, adam_beta1: float = 0.5,
                 factored: bool = True) -> None:
        super().__init__()
        if n_critic < 1 or channels < 8 or hidden < 1:
            raise PainterConfigError(f"n_critic, channels and hidden must be positive (channels >= 8); "
                                     f"got {n_critic}, {channels}, {hidden}")
        if adam_beta1 not in (0.0, 0.5):
            raise PainterConfigError(f"adam_beta1 is 0.5 or 0 (WGAN-GP's settings); got {adam_beta1!r}")
        self.canvas_px = canvas_px
        self.channels, self.hidden, self.n_critic = channels, hidden, n_critic
        self.gp_weight, self.recon_weight, self.adam_beta1 = gp_weight, recon_weight, adam_beta1
        self.factored = bool(factored)
        widths = stack_widths(canvas_px, channels)
        self.generator = _Generator(widths, hidden, self.factored)
        self.critic = _Critic(canvas_px, widths, hidden)

    def config(self) -> dict[str, Any]:
        return {"canvas_px": self.canvas_px, "channels": self.channels, "hidden": self.hidden,
                "n_critic": self.n_critic, "gp_weight": self.gp_weight, "recon_weight": self.recon_weight,
                "adam_beta1": self.adam_beta1, "factored": self.factored}

    def forward(self, actions: torch.Tensor, mode: str = "paint",
                images: torch.Tensor | None = None) -> torch.Tensor | dict[str, torch.Tensor]:
        """Paint actions; with ``mode`` "critic_loss" or "generator_loss", the losses of one update.

        Each update's whole loss (the gradient penalty's inner gradient included) is computed in one call,
        so that a ``DistributedDataParallel`` wrapper sees one forward per backward.
        """
        if mode == "paint":
            return logits_to_image(self.generator(actions))
        if mode == "critic_loss":
            return self._critic_loss(actions, images)
        if mode == "generator_loss":
            return self._generator_loss(actions, images)
        raise ValueError(f"unknown GanPainter mode {mode!r}")

    def _critic_loss(self, actions: torch.Tensor, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = logits_to_image(self.generator(actions))
        mix = torch.rand(len(images), 1, 1, 1, dtype=images.dtype, device=images.device)
        between = (mix * images + (1 - mix) * fake).requires_grad_(True)
        scores = self.critic(torch.cat([images, fake, between]), actions.repeat(3, 1))
        real_score, fake_score, between_score = scores.chunk(3)
        (slope,) = torch.autograd.grad(between_score.sum(), between, create_graph=True)
        penalty = (slope.flatten(1).norm(dim=1) - 1).square().mean()
        distance = real_score.mean() - fake_score.mean()
        return {"loss": -distance + self.gp_weight * penalty, "wasserstein": distance.detach(),
                "gp": penalty.detach()}

    def _generator_loss(self, actions: torch.Tensor, images: torch.Tensor) -> dict[str, torch.Tensor]:
        fake = logits_to_image(self.generator(actions))
        adversarial = -frozen_call(self.critic, fake, actions).mean()
        squared = (fake - images).square().flatten(1).sum(1).mean()
        return {"loss": adversarial + self.recon_weight * squared, "adversarial": adversarial.detach(),
                "mse": squared.detach() / images[0].numel()}

    def coverage(self, actions: torch.Tensor) -> torch.Tensor:
        """Ink coverage (N, H, W) of the strokes painted black: the factored decoder's coverage map itself."""
        if not self.factored:
            return super().coverage(actions)
        black = actions.clone()
        black[:, COLOUR] = 0.0
        return logits_to_coverage(self.generator(black))

    def make_optimisers(self, learning_rate: float) -> list[torch.optim.Optimizer]:
        betas = (self.adam_beta1, 0.9)
        return [torch.optim.Adam(self.generator.parameters(), lr=learning_rate, betas=betas),
                torch.optim.Adam(self.critic.parameters(), lr=learning_rate, betas=betas)]

    def train_step(
        self, actions: torch.Tensor, images: torch.Tensor, optimisers: list[torch.optim.Optimizer], step: int,
        total_steps: int, model: nn.Module | None = None,
    ) -> dict[str, float]:
        model = model or self
        generator_opt, critic_opt = optimisers
        critic_losses: dict[str, torch.Tensor] = {}
        for part_actions, part_images in zip(actions.chunk(self.n_critic), images.chunk(self.n_critic)):
            critic_opt.zero_grad(set_to_none=True)
            critic_losses = model(part_actions, mode="critic_loss", images=part_images)
            critic_losses["loss"].backward()
            critic_opt.step()
        generator_opt.zero_grad(set_to_none=True)
        generator_losses = model(actions, mode="generator_loss", images=images)
        generator_losses["loss"].backward()
        generator_opt.step()
        merged = {**critic_losses, **generator_losses}
        return {name: float(value.detach()) for name, value in merged.items() if name != "loss"}
