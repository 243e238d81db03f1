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
    coords = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    g = (g / g.sum()).to(sr_y)
    return torch.cat([_ssim(x[None] * 255, y[None] * 255, g) for x, y in zip(sr_y, hr_y, strict=True)])


def _ssim(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    # the Gaussian window is separable: two 1-D passes instead of one 11x11 (float64 convolution on a CPU
    # unfolds its input once per kernel tap: 121 copies of a frame, against 2 x 11)
    def blur(z):
        return F.conv2d(F.conv2d(z, g.view(1, 1, 1, 11)), g.view(1, 1, 11, 1))

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = blur(x), blur(y)
    sigma_x = blur(x * x) - mu_x**2
    sigma_y = blur(y * y) - mu_y**2
    sigma_xy = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sigma_x + sigma_y + c2))
    return ssim_map.mean(dim=(1, 2, 3))


def ciede2000(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 colour difference per pixel between two L*a*b* tensors (B, 3, H, W) -> (B, H, W).

    As Sharma, Wu and Dalal (2005) give it, kL = kC = kH = 1; float64 throughout.
    """
    check_image_batch(lab1, channels=3)
    if lab1.shape != lab2.shape:
        raise ValueError(f"expected equal shapes, got {tuple(lab1.shape)} and {tuple(lab2.shape)}")
    l1, a1, b1 = lab1.double().unbind(1)
    l2, a2, b2 = lab2.double().unbind(1)
    c_mean = (torch.hypot(a1, b1) + torch.hypot(a2, b2)) / 2
    g = 0.5 * (1 - torch.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = torch.hypot(a1p, b1), torch.hypot(a2p, b2)
    h1p = torch.rad2deg(torch.atan2(b1, a1p)) % 360
    h2p = torch.rad2deg(torch.atan2(b2, a2p)) % 360
    chroma_zero = (c1p * c2p) == 0
    dh = h2p - h1p
    dh = torch.where(dh > 180, dh - 360, torch.where(dh < -180, dh + 360, dh))
    dh = torch.where(chroma_zero, torch.zeros_like(dh), dh)
    d_lp, d_cp = l2 - l1, c2p - c1p
    d_hp = 2 * torch.sqrt(c1p * c2p) * torch.sin(torch.deg2rad(dh) / 2)
    lp_mean, cp_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    hp_mean = torch.where((h1p - h2p).abs() > 180, torch.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2),
                          h_sum / 2)
    hp_mean = torch.where(chroma_zero, h_sum, hp_mean)
    t = (1 - 0.17 * torch.cos(torch.deg2rad(hp_mean - 30)) + 0.24 * torch.cos(torch.deg2rad(2 * hp_mean))
         + 0.32 * torch.cos(torch.deg2rad(3 * hp_mean + 6)) - 0.20 * torch.cos(torch.deg2rad(4 * hp_mean - 63)))
    d_theta = 30 * torch.exp(-(((hp_mean - 275) / 25) ** 2))
    r_c = 2 * torch.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (lp_mean - 50) ** 2 / torch.sqrt(20 + (lp_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -torch.sin(torch.deg2rad(2 * d_theta)) * r_c
    return torch.sqrt((d_lp / s_l) ** 2 + (d_cp / s_c) ** 2 + (d_hp / s_h) ** 2 + r_t * (d_cp / s_c) * (d_hp / s_h))


def colourfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler and Süsstrunk's (2003) colourfulness M of each image, on the 0..255 scale (gray is 0)."""
    check_image_batch(rgb, channels=3)
    r, g, b = (rgb.double().clamp(0, 1) * 255).unbind(1)
    rg, yb = r - g, (r + g) / 2 - b
    spread = torch.sqrt(rg.var(dim=(1, 2), unbiased=False) + yb.var(dim=(1, 2), unbiased=False))
    mean = torch.sqrt(rg.mean(dim=(1, 2)) ** 2 + yb.mean(dim=(1, 2)) ** 2)
    return spread + 0.3 * mean


def detail_ratio(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> torch.Tensor:
    """How much fine detail an output has against the truth's: Y's spectral power in the top octave (radial
    frequencies from a quarter to half a cycle per pixel, Hann-windowed), the output's over the truth's.

    1.0 is as much detail as the truth; a bicubic enlargement scores near 0, and invented grain or ringing
    above 1. It says nothing of whether the detail is right (PSNR does), so the two are read together.
    """
    sr_y, hr_y = _prepare_y(sr, hr, shave)
    height, width = sr_y.shape[-2:]
    window = torch.outer(torch.hann_window(height, dtype=torch.float64), torch.hann_window(width, dtype=torch.float64))
    fy = torch.fft.fftfreq(height, dtype=torch.float64).abs()[:, None]
    fx = torch.fft.fftfreq(width, dtype=torch.float64).abs()[None, :]
    band = ((fy**2 + fx**2).sqrt() >= 0.25) & ((fy**2 + fx**2).sqrt() <= 0.5)

    def power(y: torch.Tensor) -> torch.Tensor:
        centred = (y - y.mean(dim=(-2, -1), keepdim=True)) * window
        return (torch.fft.fft2(centred).abs() ** 2)[..., band].sum(dim=(-2, -1)).flatten()

    return power(sr_y) / power(hr_y).clamp_min(1e-12)


def lattice_peak_db(picture: torch.Tensor, period: int = 4, shave: int = 0) -> torch.Tensor:
    """How strongly a picture shows a regular lattice of `period` px (the dotted pattern an x`period` pixel
    shuffle draws when its sub-pixel outputs disagree): the luma spectrum's peak at the lattice's frequencies
    (k / period cycles a pixel, k = 1 .. period / 2, across, down and on both diagonals) over the median power
    around each, in dB, averaged over those frequencies; one figure per picture of (B, C, H, W).

    A picture without a lattice scores a few dB (the largest of a few bins of a smooth spectrum over the median
    of its neighbours); a visible lattice, 10 dB and more. Read it against a reference's on the same input.
    """
    check_image_batch(picture)
    y = rgb_to_y(picture.double().clamp(0, 1)) if picture.shape[1] == 3 else picture.double()
    if shave:
        y = y[..., shave:-shave, shave:-shave]
    height, width = y.shape[-2:]
    if min(height, width) < 8 * period:
        raise ValueError(f"expected a picture of at least {8 * period} px a side for a {period} px lattice, got "
                         f"{tuple(picture.shape)}")
    window = torch.outer(torch.hann_window(height, dtype=torch.float64), torch.hann_window(width, dtype=torch.float64))
    power = torch.fft.fft2((y - y.mean(dim=(-2, -1), keepdim=True)) * window).abs() ** 2
    power = power.flatten(0, 1)  # (B, H, W): luma is one channel
    near, around = 1, 7  # bins: where the peak may fall (window leakage), and the neighbourhood it stands out of
    excess = []
    for k in range(1, period // 2 + 1):
        fy, fx = round(k * height / period), round(k * width / period)
        for row, column in ((0, fx), (fy, 0), (fy, fx), (fy, -fx)):
            rows = torch.arange(row - around, row + around + 1) % height
            columns = torch.arange(column - around, column + around + 1) % width
            patch = power[:, rows][:, :, columns]
            inner = slice(around - near, around + near + 1)
            peak = patch[:, inner, inner].amax(dim=(-2, -1))
            ring = patch.clone()
            ring[:, inner, inner] = float("nan")
            background = ring.flatten(1).nanmedian(dim=1).values
            excess.append(10 * torch.log10(peak / background.clamp_min(1e-30)))
    return torch.stack(excess, dim=1).mean(dim=1)


def moving_region(truth: torch.Tensor, before: torch.Tensor, after: torch.Tensor, threshold: float = 0.04,
                  grow: int = 4) -> torch.Tensor:
    """Where a frame rebuilt between `before` and `after` can go wrong: pixels whose luma in `truth` differs from
    either neighbour's by more than `threshold` (0..1), grown by `grow` px; (B, 1, H, W) bool from (B, 3, H, W)."""
    for name, x in (("before", before), ("after", after)):
        if x.shape != truth.shape:
            raise ValueError(f"expected {name} shaped like the truth {tuple(truth.shape)}, got {tuple(x.shape)}")
    y, y_before, y_after = (rgb_to_y(x.float().clamp(0, 1)) for x in (truth, before, after))
    changed = (((y - y_before).abs() > threshold) | ((y - y_after).abs() > threshold)).float()
    return F.max_pool2d(changed, 2 * grow + 1, stride=1, padding=grow) > 0


def psnr_y_within(sr: torch.Tensor, hr: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """PSNR in dB on the Y channel over the pixels of `region` ((B, 1, H, W) bool), per image; nan where empty."""
    sr_y, hr_y = _prepare_y(sr, hr, 0)
    if region.shape != sr_y.shape:
        raise ValueError(f"expected a region shaped {tuple(sr_y.shape)}, got {tuple(region.shape)}")
    weight = region.double()
    mse = (((sr_y - hr_y) ** 2) * weight).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3))
    return 10 * torch.log10(1 / mse.clamp_min(1e-12))


def edge_energy_ratio(sr: torch.Tensor, hr: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """The ghost figure of a rebuilt in-between frame: over `region` (where things move), the summed squared
    luma gradient of `sr` over the truth's, per image.

    A moving figure drawn once and sharp scores about 1. Blending two copies of it that do not line up (a ghost:
    the figure half transparent, the background showing through, its limbs doubled) halves every edge's contrast
    while doubling the edges: the sum of squared gradients falls to about half. A blur lowers it too; invented
    noise raises it. PSNR barely moves for a ghost, since each half-contrast copy is half right.
    """
    sr_y, hr_y = _prepare_y(sr, hr, 0)
    if region.shape != sr_y.shape:
        raise ValueError(f"expected a region shaped {tuple(sr_y.shape)}, got {tuple(region.shape)}")

    def energy(y: torch.Tensor) -> torch.Tensor:
        dx, dy = y[..., :, 1:] - y[..., :, :-1], y[..., 1:, :] - y[..., :-1, :]
        return ((dx**2) * region[..., :, 1:]).sum(dim=(1, 2, 3)) + ((dy**2) * region[..., 1:, :]).sum(dim=(1, 2, 3))

    return energy(sr_y) / energy(hr_y).clamp_min(1e-12)
