"""The painter file: a trained neural painter with what it needs to be rebuilt and where it came from.

A painter file is a ``torch.save`` dictionary of plain data and tensors, read back with
``weights_only=True`` (no code runs when a file is loaded):

    format "strokebot-painter", version 1, kind, config (the painter's ``config()``), action_layout (the
    names of the 12 action numbers), brush, canvas_px, dataset_manifest_sha256, command (the command line
    that trained it), training (steps, seconds, batch, seed, final losses...), state_dict.

The state dict leaves out the submodules a kind lists in ``training_only`` (the GAN's critic, the VAE's
image encoder): they are needed to train, never to paint, and they stay in training checkpoints.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import torch

from strokeopt.painters import gan, vae  # noqa: F401  (register their kinds)
from strokeopt.painters.actions import ACTION_FIELDS
from strokeopt.painters.base import KINDS, Painter
from strokeopt.painters.storage import write_atomic

try:
    from strokeopt.painters import guided  # noqa: F401  (registers its kind)
except ImportError:  # pragma: no cover - the guided kind is optional here
    pass

FORMAT = "strokebot-painter"
VERSION = 1
CHECKPOINT_FORMAT = "strokebot-painter-checkpoint"  # written by ``train.py``; named here to refuse it clearly
REQUIRED = ("kind", "config", "action_layout", "brush", "canvas_px", "dataset_manifest_sha256", "command",
            "training", "state_dict")


class PainterFileError(ValueError):
    """A file that is not a readable strokebot painter file of a kind and version this code knows."""


def shipped_state_dict(painter: Painter) -> dict[str, torch.Tensor]:
    """The painter's weights on the CPU, less the submodules its kind needs only for training."""
    skipped = tuple(f"{name}." for name in getattr(painter, "training_only", ()))
    return {key: value.detach().cpu() for key, value in painter.state_dict().items() if not key.startswith(skipped)}


def save_painter(path: str | Path, painter: Painter, *, brush: str, canvas_px: int, dataset_manifest_sha256: str,
                 command: str, training: dict[str, Any]) -> None:
    """Write ``painter`` as a painter file at ``path``, whole or not at all."""
    if canvas_px != painter.canvas_px:
        raise ValueError(f"canvas_px {canvas_px} is not the painter's canvas ({painter.canvas_px} px)")
    contents = {
        "format": FORMAT, "version": VERSION, "kind": painter.kind, "config": dict(painter.config()),
        "action_layout": list(ACTION_FIELDS), "brush": str(brush), "canvas_px": int(canvas_px),
        "dataset_manifest_sha256": str(dataset_manifest_sha256), "command": str(command),
        "training": dict(training), "state_dict": shipped_state_dict(painter),
    }
    write_atomic(path, lambda f: torch.save(contents, f))


def read_torch_dict(source: str | Path | bytes, name: str, error: type[ValueError]) -> dict[str, Any]:
    """A ``torch.save``d dictionary read without running code, or ``error`` naming ``name``."""
    stream: str | Path | BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        contents = torch.load(stream, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError,
            AttributeError, TypeError, IndexError) as exc:
        raise error(f"{name} cannot be read as a torch file ({_first_line(exc)})") from exc
    if not isinstance(contents, dict):
        raise error(f"{name} holds a {type(contents).__name__}, not a dictionary")
    return contents


def load_painter(source: str | Path | bytes, device: str | torch.device = "cpu") -> tuple[Painter, dict[str, Any]]:
    """The painter in a painter file (eval mode, weights frozen) and the file's other fields.

    The weights do not require gradients (the optimiser fits actions through the painter, not the
    painter); gradients with respect to the actions flow as usual.
    """
    name = "painter data" if isinstance(source, bytes) else f"painter file {str(source)!r}"
    contents = read_torch_dict(source, name, PainterFileError)
    _check_header(contents, name)
    kind = KINDS[contents["kind"]]
    try:
        painter = kind(**contents["config"])
    except (TypeError, ValueError) as exc:
        raise PainterFileError(f"{name}: its {contents['kind']} settings do not build a painter ({exc})") from exc
    if painter.canvas_px != contents["canvas_px"]:
        raise PainterFileError(f"{name}: canvas_px {contents['canvas_px']} does not match its settings "
                               f"({painter.canvas_px} px)")
    _load_weights(painter, contents["state_dict"], name)
    painter.requires_grad_(False)
    metadata = {key: value for key, value in contents.items() if key != "state_dict"}
    return painter.to(device).eval(), metadata


def _check_header(contents: dict[str, Any], name: str) -> None:
    found = contents.get("format")
    if found == CHECKPOINT_FORMAT:
        raise PainterFileError(f"{name} is a training checkpoint, not a painter file (resume training from it, "
                               f"or use the painter file that training wrote)")
    if found != FORMAT:
        raise PainterFileError(f"{name} is not a strokebot painter file (format {found!r})")
    if contents.get("version") != VERSION:
        raise PainterFileError(f"{name} is painter file version {contents.get('version')!r}; this strokebot reads "
                               f"version {VERSION}")
    missing = [key for key in REQUIRED if key not in contents]
    if missing:
        raise PainterFileError(f"{name} lacks the field(s) {', '.join(missing)}")
    if contents["kind"] not in KINDS:
        raise PainterFileError(f"{name} holds a painter of kind {contents['kind']!r}, which this strokebot does not "
                               f"know (known: {', '.join(sorted(KINDS))})")
    if list(contents["action_layout"]) != list(ACTION_FIELDS):
        raise PainterFileError(f"{name} reads actions laid out as {contents['action_layout']!r}, not "
                               f"{list(ACTION_FIELDS)!r}")
    if not isinstance(contents["config"], dict) or not isinstance(contents["state_dict"], dict):
        raise PainterFileError(f"{name}: config and state_dict must be dictionaries")


def _load_weights(painter: Painter, state: dict[str, Any], name: str) -> None:
    """Load ``state`` into ``painter``; every weight but the training-only ones must be there, each in shape."""
    expected = shipped_state_dict(painter)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise PainterFileError(f"{name}: its weights do not fit a {painter.kind} painter of its settings "
                               f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise PainterFileError(f"{name}: weight {key} is {shape}, expected {tuple(expected[key].shape)}")
    painter.load_state_dict(state, strict=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
