"""A neural painter plugs into the optimiser as a StrokeRenderer: strokes land where their points are."""

import numpy as np
import pytest
import torch

from strokeopt.optimise import FitConfig, fit_strokes
from strokeopt.painters.guided import GuidedPainter
from strokeopt.painters.renderer import PainterRenderer
from strokeopt.render import composite_ink


def _ink(renderer: PainterRenderer, primitive: str, control: torch.Tensor, width: float) -> torch.Tensor:
    patches = renderer.stroke_patches(primitive, control, torch.tensor([width]), 1.0)
    return 1.0 - composite_ink(patches, torch.ones(len(control)))


def test_a_line_is_painted_along_its_points_and_nowhere_else():
    renderer = PainterRenderer(GuidedPainter(), 48, 80)
    control = torch.tensor([[[10.0, 30.0], [60.0, 30.0]]])
    ink = _ink(renderer, "line", control, 3.0)
    assert ink.shape == (48, 80)
    columns = ink.sum(dim=0)
    rows = ink.sum(dim=1)
    assert columns[15:55].min() > 1.0  # the whole length is inked
    assert columns[:5].sum() == 0 and columns[66:].sum() == 0
    assert rows.argmax() in (29, 30) and rows[:24].sum() == 0 and rows[36:].sum() == 0


def test_strokes_on_the_canvas_edge_are_cut_not_lost():
    renderer = PainterRenderer(GuidedPainter(), 32, 32)
    control = torch.tensor([[[-4.0, 16.0], [12.0, 16.0]]])
    ink = _ink(renderer, "line", control, 2.0)
    assert ink[:, :10].sum() > 5.0


def test_gradients_move_a_stroke_towards_missing_ink():
    renderer = PainterRenderer(GuidedPainter(), 32, 32)
    control = torch.tensor([[[8.0, 14.0], [24.0, 14.0]]], requires_grad=True)
    target = torch.zeros(32, 32)
    target[14:18, 6:26] = 1.0  # the ink belongs a pixel and a half lower
    loss = (_ink(renderer, "line", control, 3.0) - target).square().sum()
    loss.backward()
    assert (control.grad[0, :, 1] < 0).all()  # descending the gradient moves both ends down (+y)


def test_only_lines_and_quadratic_beziers_can_be_painted():
    renderer = PainterRenderer(GuidedPainter(), 32, 32)
    with pytest.raises(ValueError, match="quadratic"):
        renderer.stroke_patches("cubic", torch.rand(2, 4, 2) * 32, torch.tensor([2.0]), 1.0)


def test_fit_strokes_runs_unchanged_through_a_painter():
    yy, xx = np.mgrid[0:32, 0:32]
    target = np.where(np.abs(yy - 16) < 3, 0.2, 1.0) * np.where(np.abs(xx - 16) < 12, 1.0, 1.0)
    renderer = PainterRenderer(GuidedPainter(), 32, 32)
    config = FitConfig(strokes=6, primitive="quadratic", iters=30, stroke_width_px=3.0, loss="mse", progress=False)
    result = fit_strokes(target, config, renderer=renderer)
    assert result.losses[-1] < 0.7 * result.losses[0]
    assert result.render.shape == (32, 32)
