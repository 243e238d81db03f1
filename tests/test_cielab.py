import cv2
import numpy as np
import pytest
import torch

from lumiere.cielab import lab_to_rgb, lightness, rgb_to_lab, with_chroma


@pytest.fixture
def rgb():
    return torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0))


def test_known_values():
    primaries = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float64).T.reshape(1, 3, 1, 3)
    published = torch.tensor([[53.2408, 80.0925, 67.2032], [87.7347, -86.1827, 83.1793],  # Lindbloom's values
                              [32.2970, 79.1875, -107.8602]], dtype=torch.float64)
    assert torch.allclose(rgb_to_lab(primaries)[0, :, 0].T, published, atol=0.01)


def test_smoke_matches_opencv(rgb):
    ours = rgb_to_lab(rgb)[0].permute(1, 2, 0).numpy()
    theirs = cv2.cvtColor(rgb[0].permute(1, 2, 0).numpy().astype(np.float32), cv2.COLOR_RGB2Lab)
    assert np.abs(ours - theirs).max() < 0.3  # OpenCV approximates the sRGB curve in float mode


def test_round_trip(rgb):
    assert torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-5)
    assert torch.allclose(with_chroma(lightness(rgb), rgb_to_lab(rgb)[:, 1:]), rgb, atol=1e-5)


def test_gray_has_no_chroma(rgb):
    gray = rgb[:, :1].expand(-1, 3, -1, -1)
    assert rgb_to_lab(gray)[:, 1:].abs().max() < 1e-4
    assert torch.allclose(lightness(rgb), rgb_to_lab(rgb)[:, :1], atol=1e-4)


def test_device_and_dtype(device, rgb):
    lab = rgb_to_lab(rgb.to(device).double())
    assert lab.dtype == torch.float64 and lab.device.type == torch.device(device).type


def test_exception():
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\), got \(3, 4, 4\)"):
        rgb_to_lab(torch.rand(3, 4, 4))
    with pytest.raises(ValueError, match="expected"):
        with_chroma(torch.rand(1, 1, 4, 4), torch.rand(1, 2, 4, 5))
