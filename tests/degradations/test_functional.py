import pytest
import torch

from lumiere.degradations import functional as Fd


class TestBlur:
    def test_smoke(self, device, dtype):
        x = torch.rand(2, 3, 16, 16, device=device, dtype=dtype)
        out = Fd.blur(x, Fd.gaussian_kernel2d(1.0, 1.0))
        assert out.shape == x.shape and out.dtype == dtype

    def test_constant_image_unchanged(self, device):
        x = torch.full((1, 3, 10, 10), 0.4, device=device)
        assert torch.allclose(Fd.blur(x, Fd.gaussian_kernel2d(1.5, 0.7, 0.3)), x, atol=1e-6)

    def test_exception(self):
        with pytest.raises(ValueError, match=r"expected \(B, C, H, W\), got \(3, 8, 8\)"):
            Fd.blur(torch.rand(3, 8, 8), Fd.gaussian_kernel2d(1, 1))
        with pytest.raises(ValueError, match="odd square"):
            Fd.blur(torch.rand(1, 3, 8, 8), torch.ones(2, 2))


class TestDownsample:
    def test_cardinality(self, device, dtype):
        x = torch.rand(2, 3, 24, 36, device=device, dtype=dtype)
        assert Fd.downsample(x, 4).shape == (2, 3, 6, 9)

    def test_matches_matlab_style_antialias(self):
        # A 4x4 block average is what an antialiased x4 box would give; bicubic stays close to it on smooth input.
        x = torch.linspace(0, 1, 64).view(1, 1, 8, 8).expand(1, 3, 8, 8).contiguous()
        small = Fd.downsample(x, 2)
        assert small.shape == (1, 3, 4, 4)
        assert (small - torch.nn.functional.avg_pool2d(x, 2)).abs().max() < 0.02

    def test_exception(self):
        with pytest.raises(ValueError, match="divisible by scale 3"):
            Fd.downsample(torch.rand(1, 3, 10, 9), 3)


class TestNoiseQuantizeJpeg:
    def test_noise_is_reproducible(self, device):
        x = torch.rand(1, 3, 8, 8, device=device)
        a = Fd.gaussian_noise(x, 0.1, torch.Generator(device=device).manual_seed(3))
        b = Fd.gaussian_noise(x, 0.1, torch.Generator(device=device).manual_seed(3))
        assert torch.equal(a, b) and not torch.equal(a, x)

    def test_gray_noise_same_in_every_channel(self):
        out = Fd.gaussian_noise(torch.zeros(1, 3, 8, 8), 0.1, torch.Generator().manual_seed(0), gray=True)
        assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])

    def test_quantize(self):
        out = Fd.quantize(torch.tensor([-0.2, 0.5, 1.3]).view(1, 1, 1, 3))
        assert torch.allclose(out.flatten(), torch.tensor([0.0, 128 / 255, 1.0]))

    def test_jpeg_round_trip_is_close(self):
        x = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4), size=(32, 32), mode="bilinear")
        out = Fd.jpeg(x, 95)
        assert out.shape == x.shape and (out - x).abs().mean() < 0.02

    def test_exception(self):
        with pytest.raises(ValueError, match="quality in 1..100"):
            Fd.jpeg(torch.rand(1, 3, 8, 8), 0)
