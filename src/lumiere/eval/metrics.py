"""Image quality metrics as the SR literature computes them (Y of BT.601, shaved borders)."""

import torch
import torch.nn.functional as F

from .._checks import check_image_batch


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """Luma in [16, 235]/255 as MATLAB's rgb2ycbcr gives it; (B, 3, H, W) -> (B, 1, H, W)."""
    check_image_batch(x, channels=3)
    weights = torch.tensor([65.481, 128.553, 24.966], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True) / 255 + 16 / 255


def _prepare_y(sr: torch.Tensor, hr: torch.Tensor, shave: int) -> tuple[torch.Tensor, torch.Tensor]:
    check_image_batch(sr)
    if sr.shape != hr.shape:
        raise ValueError(f"expected equal shapes, got {tuple(sr.shape)} and {tuple(hr.shape)}")
    # Scores are defined on stored 8-bit images, so round first as saving would.
    sr = torch.round(sr.double().clamp(0, 1) * 255) / 255
    hr = torch.round(hr.double().clamp(0, 1) * 255) / 255
    sr_y = rgb_to_y(sr) if sr.shape[1] == 3 else sr
    hr_y = rgb_to_y(hr) if hr.shape[1] == 3 else hr
    if shave:
        sr_y = sr_y[..., shave:-shave, shave:-shave]
        hr_y = hr_y[..., shave:-shave, shave:-shave]
    return sr_y, hr_y


def psnr_y(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> torch.Tensor:
    """PSNR in dB on the Y channel for each image of a batch."""
    sr_y, hr_y = _prepare_y(sr, hr, shave)
    mse = ((sr_y - hr_y) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return 10 * torch.log10(1 / mse)


def ssim_y(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> torch.Tensor:
    """SSIM on the Y channel (11x11 Gaussian window, sigma 1.5, on the 0..255 scale)."""
    sr_y, hr_y = _prepare_y(sr, hr, shave)
    sr_y, hr_y = sr_y * 255, hr_y * 255
    coords = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).view(1, 1, 11, 11).to(sr_y)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x = F.conv2d(sr_y, window)
    mu_y = F.conv2d(hr_y, window)
    sigma_x = F.conv2d(sr_y * sr_y, window) - mu_x**2
    sigma_y = F.conv2d(hr_y * hr_y, window) - mu_y**2
    sigma_xy = F.conv2d(sr_y * hr_y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sigma_x + sigma_y + c2))
    return ssim_map.mean(dim=(1, 2, 3))
