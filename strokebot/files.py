"""Output files and folders: checked before the work starts, then each file written whole or not at all.

A file is written to a temporary file beside its target, then renamed over it. A symbolic link is
followed: its target is replaced and the link stays a link. Errors name the output, never the temporary.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterable

from PIL import Image


class OutputPathError(OSError):
    """An output file or folder that cannot be written; the message names it and says why."""


def check_output_file(path: str | Path) -> None:
    """Refuse, before any work, an output file that is a folder, FIFO, device or socket, or cannot be made."""
    path = Path(path)
    target = _link_target(path)
    _refuse_special(path, target)
    if path.is_symlink() and not target.parent.is_dir():
        raise OutputPathError(f"cannot write {path}: it links to {target}, whose folder does not exist")
    _check_folder_writable(path, target.parent)


def check_output_dir(path: str | Path, names: Iterable[str] = ()) -> None:
    """Refuse, before any work, an output folder that is not a folder or cannot be made or written in.

    ``names``: the files the command writes in it, each refused if it is a folder, FIFO, device or socket.
    Nothing is left behind: a missing folder is made by the first write, not here.
    """
    path = Path(path)
    target = _link_target(path)
    if path.is_symlink() and not target.exists():
        raise OutputPathError(f"cannot write into {path}: it links to {target}, which does not exist")
    mode = _mode(path, target)
    if mode is not None and not stat.S_ISDIR(mode):
        raise OutputPathError(f"cannot write into {path}: it is {_kind(mode)}, not a folder")
    _check_folder_writable(path, target)
    for name in names:
        _refuse_special(path / name, _link_target(path / name))


def _link_target(path: Path) -> Path:
    """The file a write to ``path`` lands in: ``path`` with every symbolic link followed."""
    return Path(os.path.realpath(path))


def _mode(path: Path, target: Path) -> int | None:
    """The file mode of ``target`` (what ``path`` names), or None when there is nothing there yet."""
    try:
        return target.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:  # a loop of links, a component that is a file
        raise OutputPathError(f"cannot write {path}: {exc.strerror}") from None


def _refuse_special(path: Path, target: Path) -> None:
    """Refuse ``path`` when what it names exists and is not a regular file (a rename would not replace it)."""
    mode = _mode(path, target)
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputPathError(f"cannot write {path}: it is {_kind(mode)}, not a file")


def _kind(mode: int) -> str:
    """What a file of ``mode`` is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a regular file"


def _check_folder_writable(path: Path, folder: Path) -> None:
    """Refuse ``path`` unless ``folder`` exists and takes new files, or its nearest existing parent does.

    The test makes a folder there and removes it at once: permission bits alone say nothing for root, a
    read-only mount or /proc.
    """
    existing = folder
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"cannot write {path}: {existing} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".strokebot-check-", dir=existing))
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: cannot create anything in {existing} ({exc.strerror})") from None


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path = Path(path)
    target = _link_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _new_temporary(target)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        os.unlink(tmp)
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        os.unlink(tmp)
        raise


def _new_temporary(target: Path) -> tuple[int, Path]:
    """A new file beside ``target``, made with the permissions the umask allows (mkstemp would make 0600)."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_png_atomic(path: str | Path, image: Image.Image) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())
