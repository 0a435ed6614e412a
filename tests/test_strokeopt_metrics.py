"""The SSIM and PSNR the project reports are scikit-image's, for the settings the project names."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from strokeopt.metrics import blur_array, gaussian_blur, psnr, ssim

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astronaut.png"
# The SSIM the project reports: Wang et al.'s Gaussian window, as scikit-image names it.
GAUSSIAN_SSIM = dict(data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
TOLERANCE = 1e-9


def _noisy_pair(rng: np.random.Generator, shape: tuple[int, ...], noise: float) -> tuple[np.ndarray, np.ndarray]:
    a = rng.random(shape)
    return a, np.clip(a + noise * rng.standard_normal(shape), 0.0, 1.0)


def _example_pair(mode: str, size_px: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """The example photo and a blurred copy saved as 8 bits, both as floats in [0, 1], channels first."""
    with Image.open(EXAMPLE) as img:
        original = img.convert(mode).resize((size_px, size_px), Image.Resampling.LANCZOS)
    degraded = original.filter(ImageFilter.GaussianBlur(1.2))

    def floats(im: Image.Image) -> np.ndarray:
        a = np.asarray(im, np.float64) / 255.0
        return a if a.ndim == 2 else a.transpose(2, 0, 1)

    return floats(original), floats(degraded)


def _blur(a: np.ndarray, sigma_px: float) -> np.ndarray:
    return gaussian_blur(torch.as_tensor(a, dtype=torch.float64), sigma_px).numpy()


@pytest.mark.parametrize("shape", [(11, 11), (32, 47), (64, 64), (128, 96)])
@pytest.mark.parametrize("noise", [0.02, 0.2, 0.6])
def test_grayscale_ssim_is_skimage_gaussian_ssim(shape, noise):
    a, b = _noisy_pair(np.random.default_rng(hash((shape, noise)) % 2**32), shape, noise)
    assert ssim(a, b) == pytest.approx(structural_similarity(a, b, **GAUSSIAN_SSIM), abs=TOLERANCE)


@pytest.mark.parametrize("shape", [(3, 16, 16), (3, 40, 33)])
def test_colour_ssim_is_skimage_gaussian_ssim_over_channels(shape):
    a, b = _noisy_pair(np.random.default_rng(7), shape, 0.15)
    expected = structural_similarity(a, b, channel_axis=0, **GAUSSIAN_SSIM)
    assert ssim(a, b) == pytest.approx(expected, abs=TOLERANCE)


def test_ssim_takes_float32_as_its_float64_value():
    a, b = _noisy_pair(np.random.default_rng(3), (48, 48), 0.1)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    expected = structural_similarity(a32.astype(np.float64), b32.astype(np.float64), **GAUSSIAN_SSIM)
    assert ssim(a32, b32) == pytest.approx(expected, abs=TOLERANCE)


def test_ssim_of_an_image_with_itself_is_one():
    a = np.random.default_rng(1).random((20, 30))
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("shape", [(17, 23), (3, 32, 32)])
def test_psnr_is_skimage_psnr(shape):
    a, b = _noisy_pair(np.random.default_rng(5), shape, 0.1)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=TOLERANCE)


def test_psnr_of_equal_images_is_infinite():
    a = np.random.default_rng(2).random((8, 8))
    assert psnr(a, a) == math.inf


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_scores_of_a_photo_and_its_blurred_8_bit_copy_are_skimage_scores(mode):
    original, degraded = _example_pair(mode)
    channel_axis = None if original.ndim == 2 else 0
    expected_ssim = structural_similarity(original, degraded, channel_axis=channel_axis, **GAUSSIAN_SSIM)
    assert ssim(original, degraded) == pytest.approx(expected_ssim, abs=TOLERANCE)
    assert psnr(original, degraded) == pytest.approx(
        peak_signal_noise_ratio(original, degraded, data_range=1.0), abs=TOLERANCE)


def test_skimage_default_window_is_a_different_number():
    """Why a report once disagreed with scikit-image: its default SSIM is the 7 x 7 uniform window."""
    original, degraded = _example_pair("L")
    default = structural_similarity(original, degraded, data_range=1.0)
    assert abs(ssim(original, degraded) - default) > 0.005


@pytest.mark.parametrize("blur", [_blur, blur_array], ids=["torch", "numpy"])
@pytest.mark.parametrize("sigma_px", [0.7, 2.0])
@pytest.mark.parametrize("shape", [(40, 40), (3, 25, 31)])
def test_gaussian_blur_is_normalised_convolution(blur, sigma_px, shape):
    """The blur (torch's for the losses, numpy's for scores) is scipy's zero-padded Gaussian divided by the
    same Gaussian of ones, per channel."""
    a = np.random.default_rng(11).random(shape)
    truncate = max(1, math.ceil(3 * sigma_px)) / sigma_px
    axes = (-2, -1)

    def zero_padded(x: np.ndarray) -> np.ndarray:
        return gaussian_filter(x, sigma_px, mode="constant", cval=0.0, truncate=truncate, axes=axes)

    expected = zero_padded(a) / zero_padded(np.ones(shape))
    np.testing.assert_allclose(blur(a, sigma_px), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_blurred_scores_are_skimage_scores_of_the_same_blurred_images(mode):
    """ssim_blur2 and psnr_blur2 blur both images with one Gaussian, then score them like the plain ones."""
    original, degraded = _example_pair(mode)
    blurred_original, blurred_degraded = _blur(original, 2.0), _blur(degraded, 2.0)
    channel_axis = None if original.ndim == 2 else 0
    expected = structural_similarity(blurred_original, blurred_degraded, channel_axis=channel_axis, **GAUSSIAN_SSIM)
    assert ssim(blurred_original, blurred_degraded) == pytest.approx(expected, abs=TOLERANCE)
    assert psnr(blurred_original, blurred_degraded) == pytest.approx(
        peak_signal_noise_ratio(blurred_original, blurred_degraded, data_range=1.0), abs=TOLERANCE)
    assert ssim(blurred_original, blurred_degraded) > ssim(original, degraded)
