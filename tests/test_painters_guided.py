"""The guided painter: exact stroke geometry, a learned brush response, compiled and torch paths alike."""

import numba
import numpy as np
import pytest
import torch

import strokeopt.painters.guided as guided
from strokeopt.painters.actions import random_actions
from strokeopt.painters.guided import GuidedPainter


def _textured_painter() -> GuidedPainter:
    """A painter whose tables are not the smooth start, so every lookup path matters."""
    torch.manual_seed(0)
    painter = GuidedPainter(canvas_px=32).double()
    with torch.no_grad():
        painter.response.add_(torch.rand_like(painter.response) * 0.3)
        painter.radius_scale.add_(torch.rand_like(painter.radius_scale) * 0.5)
    return painter


def _actions(count: int, seed: int = 1) -> torch.Tensor:
    return torch.tensor(random_actions(count, np.random.default_rng(seed)), dtype=torch.float64)


@pytest.mark.parametrize("method", ["forward", "coverage"])
def test_compiled_and_torch_paths_agree_in_value_and_gradient(method, monkeypatch):
    painter = _textured_painter()
    actions = _actions(12)
    weights = torch.rand(12, 3 if method == "forward" else 1, 32, 32, dtype=torch.float64).squeeze(1)
    results = []
    for use_numba in (True, False):
        if not use_numba:
            monkeypatch.setattr(guided, "numba", None)
        a = actions.clone().requires_grad_(True)
        painter.zero_grad()
        out = getattr(painter, method)(a)
        (out * weights).sum().backward()
        results.append((out.detach(), a.grad, painter.response.grad.clone(), painter.radius_scale.grad.clone()))
    (out_n, ga_n, gr_n, gs_n), (out_t, ga_t, gr_t, gs_t) = results
    assert torch.allclose(out_n, out_t, atol=1e-6)  # the compiled path writes float32 pixels
    assert torch.allclose(ga_n, ga_t, rtol=1e-6, atol=1e-8)
    assert torch.allclose(gr_n, gr_t, rtol=1e-6, atol=1e-8)
    assert torch.allclose(gs_n, gs_t, rtol=1e-6, atol=1e-8)


def test_colour_is_applied_analytically_on_white_paper():
    painter = _textured_painter()
    actions = _actions(6)
    with torch.no_grad():
        image = painter(actions)
        coverage = painter.coverage(actions)
    expected = 1.0 - coverage[:, None] * (1.0 - actions[:, 3:6])[:, :, None, None]
    assert torch.allclose(image, expected, atol=1e-6)
    assert coverage.min() >= 0.0 and coverage.max() <= 1.0


def test_no_ink_beyond_the_brush_reach():
    painter = GuidedPainter(canvas_px=64)
    action = torch.tensor([[1.0, 1.0, 0.0, 0, 0, 0, 0.2, 0.5, 0.5, 0.5, 0.8, 0.5]])  # a thin horizontal stroke
    coverage = painter.coverage(action)[0]
    rows = coverage.sum(dim=1)
    assert rows[32] > 0 and rows[:20].sum() == 0 and rows[45:].sum() == 0
    assert coverage[32, 5:8].sum() == 0  # left of the start point


def test_paints_at_any_resolution_the_same_stroke():
    painter = GuidedPainter(canvas_px=32)
    actions = _actions(8).float()
    with torch.no_grad():
        small = painter.coverage(actions)
        large = painter.coverage_at(actions, 64)
    shrunk = torch.nn.functional.avg_pool2d(large[:, None], 2)[:, 0]
    assert (shrunk - small).abs().mean() < 0.02
    assert torch.allclose(shrunk.sum(dim=(1, 2)), small.sum(dim=(1, 2)), rtol=0.1, atol=1.0)


def test_pressure_and_size_gradients_match_finite_differences():
    painter = _textured_painter()
    actions = _actions(4, seed=3)
    weights = torch.rand(4, 3, 32, 32, dtype=torch.float64)
    a = actions.clone().requires_grad_(True)
    (painter(a) * weights).sum().backward()
    for column in (0, 1, 2, 3):  # pressures, size, red
        step = torch.zeros_like(actions)
        step[:, column] = 1e-5
        with torch.no_grad():
            numeric = ((painter(actions + step) - painter(actions - step)) * weights).sum(dim=(1, 2, 3)) / 2e-5
        assert torch.allclose(a.grad[:, column], numeric, rtol=2e-2, atol=2e-2), column


def test_gradients_do_not_depend_on_the_number_of_threads():
    painter = _textured_painter()
    actions = _actions(40)
    grads = []
    before = numba.get_num_threads()
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            painter.zero_grad()
            painter(actions).square().sum().backward()
            grads.append(painter.response.grad.clone())
    finally:
        numba.set_num_threads(before)
    assert torch.equal(grads[0], grads[1])


def test_config_rebuilds_the_same_painter():
    painter = _textured_painter()
    rebuilt = GuidedPainter(**painter.config()).double()
    rebuilt.load_state_dict(painter.state_dict())
    actions = _actions(3)
    with torch.no_grad():
        assert torch.equal(painter(actions), rebuilt(actions))
