"""Image losses for the stroke optimiser: pixel MSE, VGG16 feature losses, LPIPS, and weighted sums of them.

`vgg` compares VGG16 activations at several layers, `content` at one layer (the "intrinsic style transfer" of
Nakano's Neural Painters: matching one mid-level layer lets strokes reproduce content in their own style) and
`lpips` is Zhang et al.'s learned perceptual metric; `tone` is the MSE of Gaussian-blurred images, which
judges hatching by the grey it makes rather than by where each line falls. A spec such as "mse+0.1*vgg" picks a weighted sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from strokeopt.metrics import gaussian_blur
from strokeopt.names import DEFAULT_VGG_LAYERS
from strokeopt.vgg import LAYERS, LPIPS_LAYERS, Vgg16Features, layer_downsampling, load_lpips_heads, load_vgg16

LOSSES: tuple[str, ...] = ("mse", "tone", "vgg", "lpips", "content")
TONE_SIGMA_PX = 1.0  # `tone`: MSE after a Gaussian blur, how hatching reads as grey from a little distance
DEFAULT_CONTENT_LAYER = "relu3_3"

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# LPIPS maps [-1, 1] images with its own constants, (x - shift) / scale: the same as ImageNet's on [0, 1].
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)


class LossError(ValueError):
    """A loss spec, layer list or image that the losses cannot use."""


@dataclass(frozen=True)
class LossTerm:
    """One named loss and its weight in the sum."""

    name: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in LOSSES:
            raise LossError(f"unknown loss {self.name!r}; expected one of {', '.join(LOSSES)}")
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise LossError(f"loss weight must be a positive number, got {self.weight} for {self.name!r}")


# --- parsing -------------------------------------------------------------------------------------------------------


def _split_sum(spec: str) -> list[str]:
    """Split on '+', except the exponent sign of a number such as 1e+3."""
    parts: list[str] = []
    for piece in spec.split("+"):
        mantissa = parts[-1].rstrip() if parts else ""
        if len(mantissa) >= 2 and mantissa[-1] in "eE" and (mantissa[-2].isdigit() or mantissa[-2] == "."):
            parts[-1] += "+" + piece
        else:
            parts.append(piece)
    return parts


def _parse_term(text: str) -> LossTerm:
    term = text.strip()
    if not term:
        raise LossError("empty term in loss spec (a stray '+'?)")
    weight_text, star, name = term.rpartition("*")
    name = name.strip()
    if name not in LOSSES:
        raise LossError(f"unknown loss {name!r} in term {term!r}; expected one of {', '.join(LOSSES)}")
    if not star:
        return LossTerm(name)
    try:
        weight = float(weight_text)
    except ValueError:
        raise LossError(f"bad weight {weight_text.strip()!r} in term {term!r}: expected a positive number") from None
    if not (math.isfinite(weight) and weight > 0):
        raise LossError(f"bad weight {weight_text.strip()!r} in term {term!r}: expected a positive number")
    return LossTerm(name, weight)


def parse_loss(spec: str) -> tuple[LossTerm, ...]:
    """Terms of a spec like "mse", "mse+0.1*vgg" or "0.5*mse + 2*lpips"; each loss at most once."""
    if not spec.strip():
        raise LossError(f"empty loss spec; expected e.g. 'mse' or 'mse+0.1*vgg' with losses from {', '.join(LOSSES)}")
    terms = tuple(_parse_term(part) for part in _split_sum(spec))
    names = [term.name for term in terms]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise LossError(f"loss {repeated[0]!r} appears more than once in {spec!r}; give it one weight")
    return terms


def parse_vgg_layers(spec: str) -> tuple[str, ...]:
    """Layers of a spec like "relu1_2,relu2_2", validated against VGG16's ReLU names, in the given order."""
    layers = tuple(part.strip() for part in spec.split(","))
    for layer in layers:
        if layer not in LAYERS:
            raise LossError(f"unknown VGG16 layer {layer!r} in {spec!r}; valid layers: {', '.join(LAYERS)}")
    repeated = sorted({layer for layer in layers if layers.count(layer) > 1})
    if repeated:
        raise LossError(f"VGG16 layer {repeated[0]!r} is listed more than once in {spec!r}")
    return layers


# --- image preparation ---------------------------------------------------------------------------------------------


def _rgb_batch(image: torch.Tensor) -> torch.Tensor:
    """(H, W) or (3, H, W) in [0, 1] -> (1, 3, H, W) float32; grayscale is repeated to three channels."""
    batch = image.expand(3, *image.shape) if image.dim() == 2 else image
    return batch[None].to(torch.float32)


def _affine(batch: torch.Tensor, shift: Sequence[float], scale: Sequence[float]) -> torch.Tensor:
    shift_t = torch.tensor(shift, device=batch.device).view(1, 3, 1, 1)
    scale_t = torch.tensor(scale, device=batch.device).view(1, 3, 1, 1)
    return (batch - shift_t) / scale_t


def imagenet_normalise(batch: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB -> the ImageNet-standardised input that VGG16 was trained on (for `vgg` and `content`)."""
    return _affine(batch, _IMAGENET_MEAN, _IMAGENET_STD)


def lpips_normalise(batch: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB -> [-1, 1] -> LPIPS's own scaling, as its heads were trained with (equals imagenet_normalise)."""
    return _affine(batch * 2 - 1, _LPIPS_SHIFT, _LPIPS_SCALE)


def _check_image(image: torch.Tensor, what: str) -> None:
    if not (image.dim() == 2 or (image.dim() == 3 and image.shape[0] == 3)):
        raise LossError(f"{what} must be (H, W) grayscale or (3, H, W) colour, got shape {tuple(image.shape)}")
    if not image.is_floating_point():
        raise LossError(f"{what} must be a float tensor with values in [0, 1], got {image.dtype}")


# --- the terms -----------------------------------------------------------------------------------------------------

Features = Mapping[str, torch.Tensor]


def relative_feature_mse(features: Features, target: Features, layers: Sequence[str]) -> torch.Tensor:
    """Mean over layers of MSE(features, target) / mean-square(target).

    Dividing by the target's own energy makes each layer's term dimensionless, so shallow layers (large
    activations) do not drown deep ones, and an unrelated image scores about 1 whatever the layers.
    """
    terms = [
        F.mse_loss(features[layer], target[layer]) / target[layer].square().mean().clamp_min(1e-12) for layer in layers
    ]
    return torch.stack(terms).mean()


def _unit_channels(feature: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return feature / (feature.square().sum(dim=1, keepdim=True).sqrt() + eps)


def lpips_distance(features: Features, target: Features, heads: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """LPIPS: channel-unit-normalised feature differences, squared, weighted by the heads, averaged over space."""
    per_layer = [
        ((_unit_channels(features[layer]) - _unit_channels(target[layer])).square() * heads[layer]).sum(dim=1).mean()
        for layer in LPIPS_LAYERS
    ]
    return torch.stack(per_layer).sum()


@dataclass(frozen=True)
class _FeaturePass:
    """One VGG16 pass: how the image is normalised, which layers are kept, and the target's activations."""

    normalise: Callable[[torch.Tensor], torch.Tensor]
    layers: tuple[str, ...]
    target: Features


class ImageLoss:
    """A weighted sum of loss terms comparing a render to a fixed target; built once, called every iteration."""

    def __init__(
        self,
        target: torch.Tensor,
        terms: Sequence[LossTerm],
        vgg_layers: Sequence[str] = DEFAULT_VGG_LAYERS,
        content_layer: str = DEFAULT_CONTENT_LAYER,
        vgg_weights: str | Path | None = None,
    ) -> None:
        _check_image(target, "target")
        if not terms:
            raise LossError("a loss needs at least one term")
        self.target = target.detach()
        self.terms = tuple(terms)
        self.vgg_layers = parse_vgg_layers(",".join(vgg_layers))
        if content_layer not in LAYERS:
            raise LossError(f"unknown content layer {content_layer!r}; valid layers: {', '.join(LAYERS)}")
        self.content_layer = content_layer
        names = {term.name for term in self.terms}

        passes: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], tuple[str, ...]]] = {}
        imagenet_layers = self.vgg_layers if "vgg" in names else ()
        if "content" in names:
            imagenet_layers += (self.content_layer,)
        if imagenet_layers:
            passes["imagenet"] = (imagenet_normalise, tuple(dict.fromkeys(imagenet_layers)))
        if "lpips" in names:
            passes["lpips"] = (lpips_normalise, LPIPS_LAYERS)
            self._heads = load_lpips_heads(vgg_weights, device=target.device)

        self._target_tone: torch.Tensor | None = None
        self._vgg: Vgg16Features | None = None
        self._passes: dict[str, _FeaturePass] = {}
        if passes:
            self._check_size(max((layer for _, layers in passes.values() for layer in layers), key=layer_downsampling))
            self._vgg = load_vgg16(vgg_weights, device=target.device)
            batch = _rgb_batch(self.target)
            with torch.no_grad():
                for key, (normalise, layers) in passes.items():
                    self._passes[key] = _FeaturePass(normalise, layers, self._vgg(normalise(batch), layers))

    def _check_size(self, deepest: str) -> None:
        factor = layer_downsampling(deepest)
        if min(self.target.shape[-2:]) < factor:
            raise LossError(
                f"VGG16 layer {deepest} needs images at least {factor} px on each side, "
                f"got {tuple(self.target.shape[-2:])}"
            )

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """The weighted loss of `image` (same shape as the target, values in [0, 1]) as a scalar tensor."""
        if image.shape != self.target.shape:
            raise LossError(f"image shape {tuple(image.shape)} differs from the target's {tuple(self.target.shape)}")
        features = self._features(image)
        total = torch.zeros((), dtype=image.dtype, device=image.device)
        for term in self.terms:
            total = total + term.weight * self._term(term.name, image, features)
        return total

    def _features(self, image: torch.Tensor) -> dict[str, Features]:
        if self._vgg is None:
            return {}
        batch = _rgb_batch(image)
        return {key: self._vgg(p.normalise(batch), p.layers) for key, p in self._passes.items()}

    def _term(self, name: str, image: torch.Tensor, features: Mapping[str, Features]) -> torch.Tensor:
        if name == "mse":
            return F.mse_loss(image, self.target)
        if name == "tone":
            if self._target_tone is None:
                self._target_tone = gaussian_blur(self.target, TONE_SIGMA_PX)
            return F.mse_loss(gaussian_blur(image, TONE_SIGMA_PX), self._target_tone)
        if name == "vgg":
            return relative_feature_mse(features["imagenet"], self._passes["imagenet"].target, self.vgg_layers)
        if name == "content":
            return relative_feature_mse(features["imagenet"], self._passes["imagenet"].target, (self.content_layer,))
        return lpips_distance(features["lpips"], self._passes["lpips"].target, self._heads)
