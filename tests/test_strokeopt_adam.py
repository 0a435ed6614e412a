"""The fit's Adam steps exactly as torch.optim.Adam(fused=True) under CosineAnnealingLR does, bit for bit."""

import pytest
import torch

from strokeopt.adam import CosineSchedule, FusedAdam


def _problem(seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Three tensors to fit (two with 8 rows, one with 3) and a target for each row of the first."""
    generator = torch.Generator().manual_seed(seed)
    params = [torch.randn(8, 4, 2, generator=generator), torch.randn(8, generator=generator),
              torch.randn(3, generator=generator)]
    return [p.requires_grad_(True) for p in params], torch.randn(8, 4, 2, generator=generator)


def _loss(params: list[torch.Tensor], target: torch.Tensor, step: int) -> torch.Tensor:
    points, widths, extra = params
    loss = ((points - target) ** 2).sum() + (widths**3).sin().sum()
    return loss + (extra**2).sum() if step % 3 else loss  # `extra` has no gradient on every third step


@pytest.mark.parametrize("t_max, steps", [(10, 10), (4, 11), (1, 3)])
def test_steps_and_learning_rates_equal_torch_optims(t_max, steps):
    ours, target = _problem(0)
    theirs, _ = _problem(0)
    adam = FusedAdam([(ours[:1], 0.5), (ours[1:], 0.05)])
    schedule = CosineSchedule(adam, t_max=t_max)
    reference = torch.optim.Adam([{"params": theirs[:1], "lr": 0.5}, {"params": theirs[1:], "lr": 0.05}], fused=True)
    reference_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=t_max, eta_min=0.0)
    for step in range(steps):
        for params, optimiser in ((ours, adam), (theirs, reference)):
            optimiser.zero_grad()
            _loss(params, target, step).backward()
            optimiser.step()
        schedule.step()
        reference_schedule.step()
        assert [g.lr for g in adam.groups] == [g["lr"] for g in reference.param_groups]
        for mine, torchs in zip(ours, theirs):
            assert torch.equal(mine, torchs)


def test_forget_zeroes_the_moments_of_restarted_rows_as_torch_state_edits_do():
    ours, target = _problem(1)
    theirs, _ = _problem(1)
    adam = FusedAdam([(ours, 0.1)])
    reference = torch.optim.Adam(theirs, lr=0.1, fused=True)
    rows = torch.tensor([1, 5])
    for step in range(6):
        for params, optimiser in ((ours, adam), (theirs, reference)):
            optimiser.zero_grad()
            _loss(params, target, 1).backward()
            optimiser.step()
        if step == 2:
            adam.forget(rows, 8)
            for param in theirs:
                if param.shape[0] == 8:
                    reference.state[param]["exp_avg"][rows] = 0.0
                    reference.state[param]["exp_avg_sq"][rows] = 0.0
    for mine, torchs in zip(ours, theirs):
        assert torch.equal(mine, torchs)


def test_a_tensor_without_gradient_is_not_moved():
    ours, target = _problem(2)
    adam = FusedAdam([(ours, 0.1)])
    before = ours[2].detach().clone()
    adam.zero_grad()
    _loss(ours, target, 0).backward()
    adam.step()
    assert torch.equal(ours[2], before)
    assert not torch.equal(ours[0], _problem(2)[0][0])
