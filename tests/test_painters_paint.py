"""`strokebot painter paint`: the strokes of given actions, by the real engine or a learned painter."""

import json

import numpy as np
import pytest
from PIL import Image

from strokeopt.painters.actions import ActionError, check_actions, read_actions

STROKE = [0.9, 0.4, 0.5, 0.8, 0.1, 0.1, 0.1, 0.8, 0.5, 0.1, 0.9, 0.8]


@pytest.mark.parametrize("suffix", [".txt", ".json", ".npy"])
def test_actions_are_read_from_text_json_and_numpy(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    rows = [STROKE, [0.5] * 12]
    if suffix == ".npy":
        np.save(path, np.array(rows))
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("\n".join(", ".join(map(str, row)) for row in rows))
    assert np.array_equal(read_actions(path), np.array(rows))


@pytest.mark.parametrize("bad, words", [
    ([float("nan")] + STROKE[1:], "pressure_start is not a finite number"),
    (STROKE[:5], "12 numbers"),
    (STROKE[:4] + [1.5] + STROKE[5:], "green = 1.5 is outside"),
    ([["a"] * 12], "numbers"),
])
def test_bad_actions_say_which_number_is_wrong(bad, words):
    with pytest.raises(ActionError, match=words):
        check_actions(bad)


def test_paint_with_mypaint_and_with_a_shipped_painter(run_cli, tmp_path):
    actions = tmp_path / "strokes.txt"
    actions.write_text(" ".join(map(str, STROKE)) + "\n" + " ".join(["0.6"] * 12) + "\n")
    for painter in ("mypaint", "neural:guided"):
        out = tmp_path / f"{painter.replace(':', '_')}.png"
        done = run_cli("painter", "paint", actions, "-o", out, "--painter", painter)
        assert done.returncode == 0, done.stderr
        image = np.asarray(Image.open(out))
        assert image.shape == (66, 132, 3) and image.min() < 100  # two strokes, with ink


@pytest.mark.parametrize("content", ["nan 1 1 1 1 1 1 1 1 1 1 1", "0.5 0.5", "[[0.5, 2]]", "\x00\x01binary"])
def test_paint_refuses_bad_actions_in_one_line_and_writes_nothing(run_cli, tmp_path, content):
    actions = tmp_path / ("bad.json" if content.startswith("[") else "bad.txt")
    actions.write_text(content)
    done = run_cli("painter", "paint", actions, "-o", tmp_path / "out.png")
    assert done.returncode == 2
    assert done.stderr.startswith("strokebot: error:") and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.png").exists()
