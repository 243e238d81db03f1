"""Degradation recipes batched on the training device: the CPU path's parameters, its distributions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lumiere.degradations import functional as Fd
from lumiere.degradations.batched import degrade_on_device, jpeg, jpeg_quality_for_crf, quantization_tables
from lumiere.degradations.recipes import bicubic, film
from lumiere.degradations.transforms import (
    Compose,
    DefocusBlur,
    Degradation,
    Downsample,
    Dust,
    Fading,
    Flicker,
    GateWeave,
    GaussianBlur,
    H264Compression,
    LineScratches,
    Monochrome,
    OneOf,
    Quantize,
    RandomApply,
    Vignette,
)
from lumiere.ops import luma
from lumiere.train.data import degrade_batch

from ..conftest import data_path


def smooth_crops(count: int, side: int, detail: int = 24, seed: int = 0) -> torch.Tensor:
    """Random noise enlarged bicubically, as conftest's `smooth_images`, straight to tensors."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(count, 3, detail, detail, generator=generator)
    return F.interpolate(noise, size=(side, side), mode="bicubic", align_corners=False).clamp(0, 1)


def photo_crops(count: int, side: int) -> torch.Tensor:
    """Centre crops of BSDS500 training photos (skips when the shared data is absent)."""
    import cv2

    paths = sorted(data_path("train", "bsds500", "train").glob("*.jpg"))[:count]
    crops = []
    for path in paths:
        rgb = cv2.imread(str(path))[:, :, ::-1]
        top, left = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
        crops.append(torch.from_numpy(np.ascontiguousarray(rgb[top:top + side, left:left + side])).permute(2, 0, 1))
    return torch.stack(crops).float() / 255


def crops(kind: str, count: int, side: int) -> torch.Tensor:
    return smooth_crops(count, side) if kind == "smooth" else photo_crops(count, side)


def psnr(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per crop, in dB (an identical crop counts as 100 dB)."""
    return 10 * torch.log10(1 / ((x - reference) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10))


def deterministic_recipe() -> Degradation:
    """Every batched step that draws no noise, each on a share of the crops."""
    return Compose([
        RandomApply(OneOf([GaussianBlur(sigma=(0.3, 1.8)), DefocusBlur(radius=(0.8, 1.8))], [0.7, 0.3]), p=0.8),
        Downsample(2, modes=("bicubic", "bilinear", "area")),
        RandomApply(Dust(), p=0.7),
        RandomApply(LineScratches(), p=0.7),
        RandomApply(Fading(), p=0.5),
        RandomApply(Vignette(), p=0.5),
        RandomApply(Flicker(), p=0.5),
        RandomApply(GateWeave(), p=0.5),
        RandomApply(Monochrome(), p=0.5),
        Quantize(),
    ])


def test_smoke(device):
    out = degrade_on_device(film(4), smooth_crops(4, 64), torch.Generator().manual_seed(0), device)
    assert out.shape == (4, 3, 16, 16)
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, torch.round(out * 255) / 255)


@pytest.mark.parametrize(("recipe", "scale"), [(film, 1), (film, 2), (film, 4), (bicubic, 2), (bicubic, 4)],
                         ids=["film-x1", "film-x2", "film-x4", "bicubic-x2", "bicubic-x4"])
def test_cardinality(recipe, scale, device):
    hr = smooth_crops(12, 64).to(device)
    out = degrade_on_device(recipe(scale), hr, torch.Generator().manual_seed(1), device)
    assert out.shape == (12, 3, 64 // scale, 64 // scale)
    assert out.dtype == hr.dtype and out.device.type == device.type


def test_same_seed_same_result(device):
    hr = smooth_crops(16, 64)
    first, second = (degrade_on_device(film(2), hr, torch.Generator().manual_seed(7), device) for _ in range(2))
    assert torch.equal(first, second)


def test_parameters_are_the_cpu_paths(device):
    """Without noise or compression the batched path is the CPU path, and leaves the generator where it does."""
    hr = smooth_crops(48, 64)
    cpu_generator, device_generator = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    expected = degrade_batch(deterministic_recipe(), hr, cpu_generator)
    out = degrade_on_device(deterministic_recipe(), hr, device_generator, device).cpu()
    assert torch.equal(cpu_generator.get_state(), device_generator.get_state())
    assert (out - expected).abs().max() <= 1 / 255 + 1e-6  # float sums may round a level the other way
    assert (out != expected).float().mean() < 0.001


@pytest.mark.slow
@pytest.mark.parametrize("pictures", ["smooth", "photos"])
@pytest.mark.parametrize(("recipe", "scale", "side"), [(film, 4, 128), (film, 1, 64), (bicubic, 4, 128)],
                         ids=["film-x4", "film-x1", "bicubic-x4"])
def test_statistics_agree_with_cpu_path(recipe, scale, side, pictures, device):
    """96 crops through both paths from the same seed, so both draw the same parameters (as tested above) and
    any gap comes from the device's noise samples and the JPEG and H.264 models.

    Measured over two seeds, both kinds of picture and film x1/x2/x4 and bicubic x4: mean PSNR within 0.11 dB,
    its spread within 3.3 %, mean brightness within 0.0006, high-frequency energy within 1.1 %. The bounds are
    about three times those: wide enough for other noise samples, narrow against a real change (a grain size
    off by 20 %, or one JPEG quality step where libjpeg takes two, moves these by more).
    """
    hr = crops(pictures, 96, side)
    reference = Fd.downsample(hr, scale) if scale > 1 else hr

    def statistics(out: torch.Tensor) -> tuple[float, float, float, float]:
        quality = psnr(out, reference)
        y = luma(out)
        laplacian = 4 * y[..., 1:-1, 1:-1] - y[..., :-2, 1:-1] - y[..., 2:, 1:-1] - y[..., 1:-1, :-2] - y[..., 1:-1, 2:]
        return quality.mean().item(), quality.std().item(), out.mean().item(), (laplacian**2).mean().item()

    cpu = statistics(degrade_batch(recipe(scale), hr, torch.Generator().manual_seed(0)))
    batched = statistics(degrade_on_device(recipe(scale), hr, torch.Generator().manual_seed(0), device).cpu())
    assert batched[0] == pytest.approx(cpu[0], abs=0.3)
    assert batched[1] == pytest.approx(cpu[1], rel=0.1)
    assert batched[2] == pytest.approx(cpu[2], abs=0.002)
    assert batched[3] == pytest.approx(cpu[3], rel=0.04)


@pytest.mark.parametrize("quality", [50, 75, 95])
@pytest.mark.parametrize("pictures", ["smooth", "photos"])
def test_jpeg_psnr_matches_opencv(quality, pictures, device):
    colour = crops(pictures, 16, 72)  # 72: not a whole number of 16-pixel blocks, so the edge padding counts
    for x in (colour, luma(colour)):
        ours = jpeg(x.to(device), [quality] * len(x)).cpu()
        opencv = Fd.jpeg(x, quality)
        assert ours.shape == x.shape
        assert psnr(ours, x).mean().item() == pytest.approx(psnr(opencv, x).mean().item(), abs=0.5)


def test_jpeg_quality_per_crop():
    x = smooth_crops(1, 64).expand(2, 3, 64, 64)
    out = jpeg(x, [30, 90])
    assert torch.equal(out[:1], jpeg(x[:1], [30])) and torch.equal(out[1:], jpeg(x[1:], [90]))
    assert psnr(out[1:], x[1:]) > psnr(out[:1], x[:1]) + 3


def test_quantization_tables_scale_as_libjpeg():
    luminance, chrominance = quantization_tables(50)
    assert luminance[0, 0] == 16 and chrominance[7, 7] == 99  # quality 50 is the standard's own table
    assert quantization_tables(100)[0].eq(1).all()
    assert quantization_tables(10)[0][0, 0] == 80  # 16 * 5000 / 10 / 100
    assert quantization_tables(1)[0].max() == 255  # baseline tables stop at 255


@pytest.mark.slow
@pytest.mark.parametrize("crf", [18, 23, 28])
def test_h264_stand_in_psnr_matches_x264(crf):
    """On photos only: the mapping was measured on them, and random colour noise, which x264 and JPEG treat
    differently, is no film's picture."""
    hr = photo_crops(12, 128)
    x = Fd.quantize(Fd.downsample(hr, 4))
    encoded = torch.cat([Fd.h264(x[i:i + 1], crf) for i in range(len(x))])
    stand_in = jpeg(x, [jpeg_quality_for_crf(crf)] * len(x))
    assert psnr(stand_in, x).mean().item() == pytest.approx(psnr(encoded, x).mean().item(), abs=1.0)


class Sharpen(Degradation):
    def transform(self, frames, params, first=0):
        return frames


def test_exception():
    hr, generator = smooth_crops(2, 32), torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="no batched version of Sharpen"):
        degrade_on_device(Compose([RandomApply(Sharpen(), p=0.5), Quantize()]), hr, generator)
    with pytest.raises(ValueError, match=r"H264Compression\(crf=\(0, 51\)\)"):
        degrade_on_device(H264Compression(crf=(0, 51)), hr, generator)
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(0).get_state())  # nothing drawn
    with pytest.raises(ValueError, match=r"expected \(B, C, H, W\), got \(3, 32, 32\)"):
        degrade_on_device(film(2), hr[0], generator)
    with pytest.raises(ValueError, match=r"expected one quality per crop \(2\), got 1"):
        jpeg(hr, [90])
    with pytest.raises(ValueError, match="expected 1 or 3 channels"):
        jpeg(hr[:, :2], [90, 90])
    with pytest.raises(ValueError, match="measured for crf 8..44, got 50"):
        jpeg_quality_for_crf(50)
