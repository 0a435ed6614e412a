"""Training under torchrun: two CPU processes (gloo) see different strokes and end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch.distributed as dist

TESTS = Path(__file__).resolve().parent

# Run by each rank: train one kind a few steps and write what this rank saw and ended with. (One kind per
# torchrun: a process group, once destroyed, cannot be set up again in the same process.)
RANK_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    import torch
    from test_painters_train import synthetic_strokes, weights_digest
    from strokeopt.painters.base import KINDS
    from strokeopt.painters.train import train_painter

    out, kind = Path(sys.argv[1]), sys.argv[2]
    rank = int(os.environ["RANK"])
    seen = []
    real_step = KINDS[kind].train_step

    def recording_step(self, actions, *args, **kwargs):
        seen.append(actions.sum().item())
        return real_step(self, actions, *args, **kwargs)

    KINDS[kind].train_step = recording_step
    result = train_painter(synthetic_strokes(120), kind, out / f"{{kind}}.pt", steps=4, batch=12, device="cpu",
                           seed=1, progress=False, checkpoint_every=0, sample_every=0)
    report = {{"weights": weights_digest(result.painter), "seen": seen, "world": result.world_size}}
    (out / f"rank{{rank}}.json").write_text(json.dumps(report))
""")


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")
@pytest.mark.parametrize("kind", ["vae", "gan", "guided"])
def test_two_ranks_train_on_different_slices_and_end_with_identical_weights(kind, tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT.format(tests=str(TESTS)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
         str(tmp_path), kind], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    zero, one = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert zero["world"] == one["world"] == 2
    assert len(zero["seen"]) == len(one["seen"]) == 4
    assert all(a != b for a, b in zip(zero["seen"], one["seen"]))  # each rank its own slice of each batch...
    assert zero["weights"] == one["weights"]  # ...so only averaged gradients can make the weights agree
    written = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("rank"))
    assert written == [f"{kind}.pt", f"{kind}.pt.ckpt"]  # by rank 0 alone, no temporaries left
