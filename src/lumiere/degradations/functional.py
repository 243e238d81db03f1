"""Pure degradation functions on (B, C, H, W) float tensors in [0, 1].

Each function is deterministic given its arguments; randomness lives in
`transforms.py`, which draws parameters once per clip and calls these.
"""

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_image_batch


def gaussian_kernel2d(sigma_x: float, sigma_y: float, angle: float = 0.0) -> torch.Tensor:
    """An anisotropic Gaussian kernel, odd-sized to cover 3 sigma, normalised to sum 1."""
    if sigma_x <= 0 or sigma_y <= 0:
        raise ValueError(f"sigmas must be positive, got {sigma_x}, {sigma_y}")
    radius = max(1, math.ceil(3 * max(sigma_x, sigma_y)))
    coords = torch.arange(-radius, radius + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    cos, sin = math.cos(angle), math.sin(angle)
    u = cos * xx + sin * yy
    v = -sin * xx + cos * yy
    kernel = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (kernel / kernel.sum()).float()


def blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve every channel with one 2-D kernel, reflecting at the borders."""
    check_image_batch(x)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"expected an odd square (K, K) kernel, got {tuple(kernel.shape)}")
    channels = x.shape[1]
    pad = kernel.shape[0] // 2
    weight = kernel.to(x).expand(channels, 1, *kernel.shape)
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), weight, groups=channels)


def resize(x: torch.Tensor, size: tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """Resize to (H, W); downscaling is antialiased, as MATLAB's imresize does."""
    check_image_batch(x)
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    antialias = mode in ("bicubic", "bilinear") and (size[0] < x.shape[-2] or size[1] < x.shape[-1])
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(x, size=size, mode=mode, antialias=antialias, **kwargs)


def downsample(x: torch.Tensor, scale: int, mode: str = "bicubic") -> torch.Tensor:
    """Shrink by an integer factor (the sides must divide by it)."""
    check_image_batch(x)
    h, w = x.shape[-2:]
    if scale < 1 or h % scale or w % scale:
        raise ValueError(f"expected sides divisible by scale {scale}, got {tuple(x.shape)}")
    return resize(x, (h // scale, w // scale), mode)


def gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None,
                   gray: bool = False) -> torch.Tensor:
    """Add white Gaussian noise of standard deviation `sigma` (in [0, 1] units)."""
    check_image_batch(x)
    shape = (x.shape[0], 1, *x.shape[2:]) if gray else x.shape
    noise = torch.randn(shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + sigma * noise


def quantize(x: torch.Tensor, levels: int = 255) -> torch.Tensor:
    """Clamp to [0, 1] and round to `levels` steps, as storing 8-bit frames does."""
    return torch.round(x.clamp(0, 1) * levels) / levels


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Round-trip every image through a JPEG encoder at the given quality (1..100)."""
    check_image_batch(x)
    if not 1 <= quality <= 100:
        raise ValueError(f"expected quality in 1..100, got {quality}")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels, got {tuple(x.shape)}")
    pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    decoded = []
    for image in pixels:
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
        back = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        decoded.append(back[:, :, ::-1] if back.ndim == 3 else back[:, :, None])
    out = torch.from_numpy(np.ascontiguousarray(np.stack(decoded))).permute(0, 3, 1, 2)
    return out.to(x.device, x.dtype) / 255
