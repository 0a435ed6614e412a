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


def blur_array(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """``gaussian_blur`` of an (..., H, W) array in float64 numpy, for scoring finished images.

    The same sums as the torch version; numpy has no thread pool to wait on (torch's two threads took
    0.3 to 2 s for one 256 x 256 blur on a loaded two-core machine, against 5 ms here).
    """
    a = np.asarray(image, np.float64)
    height, width = a.shape[-2:]
    radius = max(1, math.ceil(3 * sigma_px))
    weights = _gaussian_weights(sigma_px, radius)
    blurred = _blur_zero_padded(a.reshape(-1, height, width), weights, radius)
    return (blurred / _blur_zero_padded(np.ones((1, height, width)), weights, radius)).reshape(a.shape)


def _gaussian_weights(sigma_px: float, radius: int) -> list[float]:
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-(x**2) / (2 * sigma_px**2))
    return (weights / weights.sum()).tolist()


def _blur_zero_padded(batch: torch.Tensor | np.ndarray, weights: list[float], radius: int):
    height, width = batch.shape[-2:]
    if isinstance(batch, np.ndarray):
        padded = np.pad(batch, ((0, 0), (radius, radius), (radius, radius)))
    else:
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
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    c1, c2 = 0.01**2, 0.03**2
    weights = _ssim_weights(min(11, *x.shape))
    mu_x, mu_y = _window_mean(x, weights), _window_mean(y, weights)
    var_x = _window_mean(x * x, weights) - mu_x**2
    var_y = _window_mean(y * y, weights) - mu_y**2
    cov = _window_mean(x * y, weights) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return float((num / den).mean())


def _ssim_weights(size: int) -> list[float]:
    """The middle ``size`` taps of the 11-tap Gaussian (sigma 1.5) of the reference SSIM, summing to 1."""
    x = np.arange(-5, 6, dtype=np.float64)
    k = np.exp(-(x**2) / (2 * 1.5**2))
    k = (k / k.sum())[(11 - size) // 2 : (11 - size) // 2 + size]
    return (k / k.sum()).tolist()


def _window_mean(image: np.ndarray, weights: list[float]) -> np.ndarray:
    """Valid-mode separable Gaussian average, as a weighted sum of shifted views.

    In numpy rather than torch: no thread pool to wait on (torch's two-thread conv2d took 0.27 s per SSIM
    on a loaded two-core machine, against 3 ms here), and the same sums conv2d makes.
    """
    height, width = image.shape
    size = len(weights)
    rows = sum(w * image[:, k : k + width - size + 1] for k, w in enumerate(weights))
    return sum(w * rows[k : k + height - size + 1, :] for k, w in enumerate(weights))
