"""Shared fixtures: small test pictures and a way to run the real `strokebot` command."""

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "astronaut.png"


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_reaches_the_commands():
    """Ctrl-C works in the tests and in the commands they start, even when the suite itself was started in
    the background, where the shell ignores SIGINT (and children would inherit that)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def small_photo(tmp_path_factory) -> Path:
    """The example photograph at 64 x 64 px."""
    path = tmp_path_factory.mktemp("img") / "astronaut64.png"
    Image.open(EXAMPLE).convert("RGB").resize((64, 64), Image.Resampling.LANCZOS).save(path)
    return path


@pytest.fixture()
def run_cli():
    """Run `strokebot ARGS...` in a real subprocess; returns the CompletedProcess."""

    def run(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", "from strokebot.cli import main; main()", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return run


def gray(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    img = Image.open(path).convert("L")
    if size is not None:
        img = img.resize(size, Image.Resampling.BOX)
    return np.asarray(img, dtype=np.float64) / 255.0
