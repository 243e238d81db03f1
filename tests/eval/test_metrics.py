import math

import pytest
import torch

from lumiere.eval.metrics import lattice_peak_db, psnr_y, rgb_to_y, ssim_y


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


# Sharma, Wu and Dalal's test data: (L1, a1, b1, L2, a2, b2, ΔE00), a selection covering the hue wrap-around,
# neutral colours and the blue-region rotation term.
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_ciede2000_matches_published_pairs():
    from lumiere.eval.metrics import ciede2000

    pairs = torch.tensor(SHARMA, dtype=torch.float64)
    lab1 = pairs[:, 0:3].T.reshape(1, 3, 1, -1)
    lab2 = pairs[:, 3:6].T.reshape(1, 3, 1, -1)
    assert torch.allclose(ciede2000(lab1, lab2)[0, 0], pairs[:, 6], atol=1e-4)
    assert torch.allclose(ciede2000(lab2, lab1)[0, 0], pairs[:, 6], atol=1e-4)


def test_colourfulness():
    from lumiere.eval.metrics import colourfulness

    gray = torch.rand(1, 1, 16, 16).expand(1, 3, 16, 16)
    assert colourfulness(gray).item() == pytest.approx(0, abs=1e-9)
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1  # rg = 255, yb = 127.5: M = 0.3 * |(255, 127.5)|
    assert colourfulness(red).item() == pytest.approx(0.3 * math.hypot(255, 127.5))


class TestDetailRatio:
    def test_smoke(self):
        from lumiere.degradations.functional import resize
        from lumiere.eval.metrics import detail_ratio

        torch.manual_seed(0)
        hr = torch.rand(2, 3, 64, 64)
        assert torch.allclose(detail_ratio(hr, hr), torch.ones(2, dtype=torch.float64))
        blurred = resize(resize(hr, (16, 16), "bicubic"), (64, 64), "bicubic").clamp(0, 1)
        assert (detail_ratio(blurred, hr) < 0.2).all()
        noisy = (hr + 0.3 * torch.randn_like(hr)).clamp(0, 1)
        assert (detail_ratio(noisy, hr) > 1).all()

    def test_cardinality(self):
        from lumiere.eval.metrics import detail_ratio

        assert detail_ratio(torch.rand(3, 3, 40, 52), torch.rand(3, 3, 40, 52), shave=4).shape == (3,)

    def test_exception(self):
        from lumiere.eval.metrics import detail_ratio

        with pytest.raises(ValueError, match="equal shapes"):
            detail_ratio(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))


def _smooth_picture(side: int = 128, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(torch.rand(1, 3, 16, 16, generator=generator), size=(side, side),
                                           mode="bicubic").clamp(0, 1)


def test_lattice_peak_smoke():
    score = lattice_peak_db(_smooth_picture())
    assert score.shape == (1,) and 0 < score.item() < 10


def test_lattice_peak_cardinality():
    pictures = torch.cat([_smooth_picture(seed=0), _smooth_picture(seed=1)])
    assert lattice_peak_db(pictures).shape == (2,) and lattice_peak_db(pictures[:, :1]).shape == (2,)


def test_lattice_peak_finds_a_dotted_lattice():
    picture = _smooth_picture()
    dotted = picture.clone()
    dotted[..., ::4, ::4] += 0.02  # two levels of 255 every fourth pixel: hard to see, plain in the spectrum
    assert lattice_peak_db(dotted.clamp(0, 1)).item() > lattice_peak_db(picture).item() + 15


def test_lattice_peak_exception():
    with pytest.raises(ValueError, match=r"at least 32 px a side for a 4 px lattice, got \(1, 3, 20, 20\)"):
        lattice_peak_db(torch.rand(1, 3, 20, 20))
