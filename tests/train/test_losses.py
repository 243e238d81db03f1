import pytest
import torch

from lumiere.train.losses import clip_shifts, temporal

PATH = [(0, 0), (3, -2), (5, 1), (9, 4)]  # (x, y) of each frame's crop


def _pan(pictures: torch.Tensor, flicker: float = 0.1) -> torch.Tensor:
    """(B, len(PATH), C, 90, 90) crops along PATH, each frame a little brighter than the last."""
    return torch.stack([torch.stack([p[:, 10 + y:100 + y, 10 + x:100 + x] * (1 + flicker * t)
                                     for t, (x, y) in enumerate(PATH)]) for p in pictures])


@pytest.fixture
def pictures():
    return torch.rand(2, 3, 120, 120, generator=torch.Generator().manual_seed(0))


def test_smoke(pictures):
    shifts = clip_shifts(_pan(pictures))
    expected = [[y0 - y1, x0 - x1] for (x0, y0), (x1, y1) in zip(PATH, PATH[1:])]
    assert shifts.tolist() == [expected, expected]


def test_an_error_that_stays_on_the_scene_costs_nothing(pictures):
    truth = _pan(pictures)
    drawn_wrong = _pan(pictures + 0.1 * torch.rand(pictures.shape, generator=torch.Generator().manual_seed(1)),
                       flicker=0)
    steady = truth + drawn_wrong - _pan(pictures, flicker=0)
    assert temporal(steady, truth) < 1e-6
    boiling = truth + 0.1 * torch.rand(truth.shape, generator=torch.Generator().manual_seed(2))
    assert temporal(boiling, truth) > 0.03


def test_cardinality(pictures):
    truth = _pan(pictures)
    assert clip_shifts(truth).shape == (2, len(PATH) - 1, 2)
    assert temporal(truth, truth).shape == ()


def test_exception(pictures):
    with pytest.raises(ValueError, match=r"expected \(B, T, C, H, W\) clips, got \(3, 120, 120\)"):
        clip_shifts(pictures[0])
    with pytest.raises(ValueError, match=r"expected two \(B, T >= 2, C, H, W\) clips of one shape, got "
                                         r"\(2, 1, 3, 90, 90\)"):
        temporal(_pan(pictures)[:, :1], _pan(pictures)[:, :1])
