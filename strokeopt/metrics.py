"""Image similarity on [0, 1] images: PSNR, and SSIM with the Gaussian window of Wang et al. (2004).

Both equal scikit-image's for the same settings (``tests/test_strokeopt_metrics.py`` checks it):
``psnr(a, b)`` is ``peak_signal_noise_ratio(a, b, data_range=1)`` and ``ssim(a, b)`` is
``structural_similarity(a, b, data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
scikit-image's *default* SSIM is a different number (a 7 x 7 uniform window with the sample covariance:
on a stroke render it reads some 0.02 to 0.05 higher), so compare against it with those settings.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def gaussian_blur(image: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Separable Gaussian blur of an (..., H, W) tensor; near the border the kernel is renormalised.

    Taps out to ceil(3 sigma); the result is scipy's ``gaussian_filter(a, sigma, mode="constant",
    truncate=...)`` divided by the same filter of an image of ones (not skimage's ``mode="nearest"``).

    Written as a weighted sum of shifted views of a zero-padded copy, divided by the same sum over ones:
    for one-channel images this is several times faster on the CPU than conv2d or reflect padding,
    forwards and backwards, and the optimiser calls it every iteration.
    """
    height, width = image.shape[-2:]
    radius = max(1, math.ceil(3 * sigma_px))
    weights = _gaussian_weights(sigma_px, radius)
    flat = image.reshape(-1, height, width)
    out = _blur_zero_padded(flat, weights, radius) / _border_weight(height, width, sigma_px, image.dtype, image.device)
    return out.reshape(image.shape)


def _gaussian_weights(sigma_px: float, radius: int) -> list[float]:
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-(x**2) / (2 * sigma_px**2))
    return (weights / weights.sum()).tolist()


def _blur_zero_padded(batch: torch.Tensor, weights: list[float], radius: int) -> torch.Tensor:
    height, width = batch.shape[-2:]
    padded = F.pad(batch, (radius, radius, radius, radius))
    rows = sum(w * padded[:, :, k : k + width] for k, w in enumerate(weights))
    return sum(w * rows[:, k : k + height, :] for k, w in enumerate(weights))


@functools.lru_cache(maxsize=32)
def _border_weight(height: int, width: int, sigma_px: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """How much of the Gaussian falls inside the image at each pixel (1 away from the border)."""
    radius = max(1, math.ceil(3 * sigma_px))
    ones = torch.ones(1, height, width, dtype=dtype, device=device)
    return _blur_zero_padded(ones, _gaussian_weights(sigma_px, radius), radius)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two same-sized [0, 1] images: (H, W), or (C, H, W) averaged over channels.

    The Gaussian-weighted SSIM of Wang et al.: an 11 x 11 Gaussian window (sigma 1.5) with population
    (not sample) variances, C1 = (0.01)^2, C2 = (0.03)^2, averaged over the window positions that lie wholly
    inside the image. This is scikit-image's ``structural_similarity`` with ``data_range=1,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False`` (``channel_axis=0`` for colour), not
    its default uniform 7 x 7 window. Images under 11 px a side, which scikit-image refuses, get the
    window's middle taps only.
    """
    if a.shape != b.shape:
        raise ValueError(f"SSIM needs images of one size, got {a.shape} and {b.shape}")
    if a.ndim == 3:
        return float(np.mean([ssim(x, y) for x, y in zip(a, b)]))
    x = torch.as_tensor(np.asarray(a, np.float64))
    y = torch.as_tensor(np.asarray(b, np.float64))
    c1, c2 = 0.01**2, 0.03**2
    window = _gaussian_window(x)
    mu_x, mu_y = window(x), window(y)
    var_x = window(x * x) - mu_x**2
    var_y = window(y * y) - mu_y**2
    cov = window(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return float((num / den).mean())


def _gaussian_window(like: torch.Tensor):
    """Valid-mode 11 x 11 Gaussian averaging (sigma 1.5), as in the reference SSIM implementation."""
    x = torch.arange(-5, 6, dtype=like.dtype)
    k = torch.exp(-(x**2) / (2 * 1.5**2))
    k = (k / k.sum())
    size = min(11, *like.shape)
    k = k[(11 - size) // 2 : (11 - size) // 2 + size]
    k = k / k.sum()

    def apply(img: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(img[None, None], k.view(1, 1, 1, -1))
        return F.conv2d(out, k.view(1, 1, -1, 1))[0, 0]

    return apply
