"""Cold start: the numba kernels of a fit and a plan land in their on-disk caches, and a fresh process loads them,
compiling nothing.

`make` runs ``python -m strokebot.warm`` after installing; these run the same module in fresh processes. After
an install (or any earlier run of this test) the first run is warm too, so the test stays cheap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

numba = pytest.importorskip("numba")

from gcode import arcs, order  # noqa: E402
from strokeopt import raster_cpu  # noqa: E402
from strokeopt.painters import guided  # noqa: E402

# the kernels a CPU fit and a plan call from Python (what they call is compiled with them)
KERNELS = (
    raster_cpu._tiles_kernel,
    raster_cpu._coverage_kernel,
    raster_cpu._backward_kernel,
    raster_cpu._ink_kernel,
    raster_cpu._ink_backward_kernel,
    guided._forward_kernel,
    guided._backward_kernel,
    order._solve,
    order._exact,
    arcs._fit,
)


def index_path(kernel) -> Path:
    """Where numba keeps the cache index of ``kernel`` (the default place: ``__pycache__`` beside the module)."""
    function = kernel.py_func
    source = Path(function.__code__.co_filename)
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    name = f"{source.stem}.{function.__qualname__}-{function.__code__.co_firstlineno}.{tag}.nbi"
    return source.parent / "__pycache__" / name


# in a fresh process: the warm-up fits, then each kernel's cache hits and misses (numba's per-dispatcher stats)
PROBE = """
import importlib, json
from strokebot import warm
warm.warm()
kernels = {f"{module}.{name}": getattr(importlib.import_module(module), name) for module, name in %r}
print(json.dumps({name: [sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values())]
                  for name, kernel in kernels.items()}))
""" % ([(k.py_func.__module__, k.__name__) for k in KERNELS],)


def warm_in_fresh_process() -> dict[str, list[int]]:
    """The warm-up fits in a fresh process, with numba's cache in its default place; {kernel: [hits, misses]}."""
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_kernels_are_cached_and_a_fresh_process_compiles_nothing():
    first = warm_in_fresh_process()  # compiles whatever is not cached yet (nothing after `make`)
    assert len(first) == len(KERNELS)
    missing = [str(index_path(kernel)) for kernel in KERNELS if not index_path(kernel).exists()]
    assert not missing, f"no numba cache index for: {missing}"

    second = warm_in_fresh_process()
    compiled = {name: misses for name, (_hits, misses) in second.items() if misses}
    assert not compiled, f"a fresh process compiled again (cache misses): {compiled}"
    not_loaded = [name for name, (hits, _misses) in second.items() if not hits]
    assert not not_loaded, f"not loaded from the cache: {not_loaded}"
