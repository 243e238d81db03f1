import math

import pytest
import torch

from lumiere.eval.metrics import psnr_y, rgb_to_y, ssim_y


def test_rgb_to_y_matlab_range():
    assert torch.allclose(rgb_to_y(torch.zeros(1, 3, 1, 1)), torch.tensor(16 / 255))
    assert torch.allclose(rgb_to_y(torch.ones(1, 3, 1, 1)), torch.tensor(235 / 255), atol=1e-4)


def test_psnr_known_value():
    hr = torch.full((1, 3, 8, 8), 100 / 255)
    sr = hr.clone()
    sr[..., 0, 0] = 110 / 255  # one pixel off by 10 levels in every channel: Y moves by 10 * 219/255
    mse = (10 * 219 / 255 / 255) ** 2 / 64
    assert psnr_y(sr, hr).item() == pytest.approx(10 * math.log10(1 / mse), abs=0.05)


def test_shave_and_identity():
    x = torch.rand(2, 3, 16, 16)
    assert torch.all(psnr_y(x, x, shave=4) > 100)
    assert torch.allclose(ssim_y(x, x), torch.ones(2, dtype=torch.float64))


def test_exception():
    with pytest.raises(ValueError, match="equal shapes"):
        psnr_y(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
