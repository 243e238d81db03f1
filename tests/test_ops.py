"""The image helpers of lumiere.ops that carry a method of their own."""

import pytest
import torch

from lumiere.eval.metrics import lattice_peak_db
from lumiere.ops import remove_lattice
from tests.conftest import smooth_pictures


def with_lattice(picture: torch.Tensor, period: int, amplitude: float) -> torch.Tensor:
    """`picture` with a dotted lattice of `period` px whose strength follows the picture's own brightness, as a
    pixel shuffle's lattice rides on the texture it draws."""
    generator = torch.Generator().manual_seed(0)
    cell = torch.randn(period, period, generator=generator)
    pattern = cell.repeat(picture.shape[-2] // period, picture.shape[-1] // period)
    return picture + amplitude * pattern * picture.mean(dim=1, keepdim=True)


def test_smoke(device, dtype):
    picture = smooth_pictures(2, 64).to(device, dtype)
    out = remove_lattice(picture, 4)
    assert out.shape == picture.shape and out.dtype == dtype and out.device == picture.device


@pytest.mark.parametrize("period", [2, 4])
def test_lattice_removed_picture_kept(period):
    picture = smooth_pictures(1, 128)
    dotted = with_lattice(picture, period, 0.05)
    cleaned = remove_lattice(dotted, period)
    assert lattice_peak_db(dotted, period, shave=8) > 30
    assert lattice_peak_db(cleaned, period, shave=8) < 3
    error_before, error_after = ((x - picture)[..., 8:-8, 8:-8].abs().mean() for x in (dotted, cleaned))
    assert error_after < error_before / 2


def test_constant_unchanged():
    picture = torch.full((1, 3, 32, 48), 0.3)
    assert torch.allclose(remove_lattice(picture, 4), picture)


def test_cardinality():
    assert remove_lattice(torch.rand(3, 1, 16, 24), 2).shape == (3, 1, 16, 24)


@pytest.mark.parametrize("picture, period, message", [
    (torch.rand(3, 16, 16), 4, r"expected \(B, C, H, W\)"),
    (torch.rand(1, 3, 18, 16), 4, "multiples of the period 4"),
    (torch.rand(1, 3, 16, 16), 1, "period of at least 2"),
])
def test_exception(picture, period, message):
    with pytest.raises(ValueError, match=message):
        remove_lattice(picture, period)
