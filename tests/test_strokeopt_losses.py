"""Image losses: specs parse strictly, every loss is zero on the target and prefers a near copy to noise,
gradients reach the image, and a weighted spec is the weighted sum of its parts."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from strokeopt import losses
from strokeopt.losses import ImageLoss, LossError, LossTerm, parse_loss, parse_vgg_layers
from strokeopt.metrics import gaussian_blur
from strokeopt.vgg import LAYERS

PERCEPTUAL = ("vgg", "content", "lpips")

# --- parsing -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("mse", [("mse", 1.0)]),
        ("vgg", [("vgg", 1.0)]),
        ("mse+0.1*vgg", [("mse", 1.0), ("vgg", 0.1)]),
        ("0.5*mse + 2*lpips", [("mse", 0.5), ("lpips", 2.0)]),
        (" content ", [("content", 1.0)]),
        ("1e-3*vgg+mse", [("vgg", 0.001), ("mse", 1.0)]),
        ("1e+2 * content", [("content", 100.0)]),
    ],
)
def test_good_loss_specs(spec, expected):
    assert parse_loss(spec) == tuple(LossTerm(name, weight) for name, weight in expected)


@pytest.mark.parametrize(
    "spec, names",
    [
        ("", "empty"),
        ("ssim", "'ssim'"),
        ("mse+", "empty term"),
        ("mse++vgg", "empty term"),
        ("abc*vgg", "'abc'"),
        ("vgg*0.1", "'0.1'"),
        ("2*3*vgg", "'2*3'"),
        ("-1*vgg", "'-1'"),
        ("0*vgg", "'0'"),
        ("inf*vgg", "'inf'"),
        ("nan*mse", "'nan'"),
        ("mse+0.5*mse", "'mse' appears more than once"),
    ],
)
def test_bad_loss_specs_name_the_bad_part(spec, names):
    with pytest.raises(LossError, match=names.replace("*", r"\*").replace("+", r"\+")):
        parse_loss(spec)


def test_loss_terms_validate_themselves():
    with pytest.raises(LossError, match="unknown loss"):
        LossTerm("l1", 1.0)
    with pytest.raises(LossError, match="positive"):
        LossTerm("mse", -0.5)


def test_good_layer_specs():
    assert parse_vgg_layers("relu1_2,relu2_2") == ("relu1_2", "relu2_2")
    assert parse_vgg_layers(" relu5_3 , relu1_1") == ("relu5_3", "relu1_1")
    assert parse_vgg_layers(",".join(LAYERS)) == LAYERS


@pytest.mark.parametrize("spec", ["relu6_1", "relu1_2,conv1_1", "relu1_2,,relu2_2", "", "relu2_3"])
def test_unknown_layers_list_the_valid_names(spec):
    with pytest.raises(LossError) as error:
        parse_vgg_layers(spec)
    assert "relu1_1" in str(error.value) and "relu5_3" in str(error.value)


def test_a_layer_listed_twice_is_refused():
    with pytest.raises(LossError, match="more than once"):
        parse_vgg_layers("relu1_2,relu1_2")


# --- pictures ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def photo(small_photo):
    """The example photograph, 32 x 32 px, as a (3, H, W) tensor in [0, 1]."""
    img = Image.open(small_photo).convert("RGB").resize((32, 32), Image.Resampling.LANCZOS)
    return torch.tensor(np.asarray(img, np.float32) / 255).permute(2, 0, 1).contiguous()


@pytest.fixture(params=["colour", "gray"])
def target(request, photo):
    return photo if request.param == "colour" else photo.mean(dim=0)


def blurred(image):
    return gaussian_blur(image[:, None], 0.7)[:, 0] if image.dim() == 3 else gaussian_blur(image, 0.7)


def shifted(image):
    return torch.roll(image, shifts=1, dims=-1)


def noise_like(image):
    return torch.rand(image.shape, generator=torch.Generator().manual_seed(0))


# --- behaviour -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PERCEPTUAL + ("mse",))
def test_each_loss_is_zero_on_the_target_and_positive_elsewhere(name, target):
    loss = ImageLoss(target, parse_loss(name))
    assert loss(target.clone()).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(noise_like(target)).item() > 0.05


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_a_near_copy_scores_better_than_noise(name, target):
    loss = ImageLoss(target, parse_loss(name))
    noise = loss(noise_like(target)).item()
    assert loss(shifted(target)).item() < noise / 2
    assert loss(blurred(target)).item() < noise / 2


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_gradients_reach_the_image_but_not_the_network(name, target):
    image = (target * 0.8 + 0.1).requires_grad_(True)
    loss = ImageLoss(target, parse_loss(name))
    loss(image).backward()
    assert torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss._vgg.parameters())


def test_mse_is_the_mean_squared_pixel_error(target):
    image = noise_like(target)
    assert ImageLoss(target, parse_loss("mse"))(image).item() == pytest.approx(F.mse_loss(image, target).item())


def test_a_weighted_spec_is_the_weighted_sum_of_its_terms(target):
    image = blurred(target)
    mse = ImageLoss(target, parse_loss("mse"))(image)
    vgg = ImageLoss(target, parse_loss("vgg"))(image)
    combined = ImageLoss(target, parse_loss("mse+0.1*vgg"))(image)
    assert combined.item() == pytest.approx(mse.item() + 0.1 * vgg.item(), rel=1e-5)
    three = ImageLoss(target, parse_loss("0.5*mse + 2*lpips + 3*content"))(image)
    lpips = ImageLoss(target, parse_loss("lpips"))(image)
    content = ImageLoss(target, parse_loss("content"))(image)
    assert three.item() == pytest.approx(0.5 * mse.item() + 2 * lpips.item() + 3 * content.item(), rel=1e-5)


def test_content_is_the_vgg_loss_at_one_layer(photo):
    image = blurred(photo)
    content = ImageLoss(photo, parse_loss("content"), content_layer="relu2_2")(image)
    vgg_one_layer = ImageLoss(photo, parse_loss("vgg"), vgg_layers=("relu2_2",))(image)
    vgg_default = ImageLoss(photo, parse_loss("vgg"))(image)
    assert content.item() == pytest.approx(vgg_one_layer.item(), rel=1e-6)
    assert vgg_default.item() != pytest.approx(vgg_one_layer.item(), rel=1e-3)


def test_vgg_layers_are_weighted_comparably(photo):
    """Each layer's error is relative to the target's own activations: noise scores the same order at every depth."""
    noise = noise_like(photo)
    per_layer = [ImageLoss(photo, parse_loss("vgg"), vgg_layers=(layer,))(noise).item() for layer in LAYERS]
    assert max(per_layer) < 10 * min(per_layer)


def test_grayscale_is_seen_as_three_equal_channels(photo):
    gray, image = photo.mean(dim=0), blurred(photo.mean(dim=0))
    for name in PERCEPTUAL:
        as_gray = ImageLoss(gray, parse_loss(name))(image)
        as_rgb = ImageLoss(gray.expand(3, -1, -1), parse_loss(name))(image.expand(3, -1, -1))
        assert as_gray.item() == pytest.approx(as_rgb.item(), rel=1e-6)


def test_lpips_to_noise_is_on_lpips_usual_scale(photo):
    """Published LPIPS-VGG distances lie in [0, ~1]: unrelated images land well inside that range."""
    assert 0.3 < ImageLoss(photo, parse_loss("lpips"))(noise_like(photo)).item() < 1.2


def test_the_loss_is_deterministic(photo):
    loss = ImageLoss(photo, parse_loss("mse+vgg+lpips"))
    image = blurred(photo)
    assert torch.equal(loss(image), loss(image))


def test_an_mse_loss_never_looks_for_weights(monkeypatch, photo):
    def refuse(*args, **kwargs):
        raise AssertionError("looked for VGG weights")

    monkeypatch.setattr(losses, "load_vgg16", refuse)
    monkeypatch.setattr(losses, "load_lpips_heads", refuse)
    assert ImageLoss(photo, parse_loss("mse"))(photo).item() == 0.0


def test_shape_mismatch_and_tiny_targets_are_refused(photo):
    loss = ImageLoss(photo, parse_loss("mse"))
    with pytest.raises(LossError, match="shape"):
        loss(photo.mean(dim=0))
    with pytest.raises(LossError, match="16 px"):
        ImageLoss(photo[:, :8, :8], parse_loss("lpips"))
    with pytest.raises(LossError, match="grayscale"):
        ImageLoss(photo[None], parse_loss("mse"))


def test_lpips_scaling_of_unit_images_is_imagenets_normalisation():
    """LPIPS feeds VGG16 what it was trained on: its shift/scale of [-1, 1] inputs is ImageNet's mean/std of [0, 1]."""
    batch = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(losses.lpips_normalise(batch), losses.imagenet_normalise(batch), atol=1e-5)
