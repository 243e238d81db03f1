"""CIE L*a*b* (D65, sRGB) on tensors, for colorization: lightness and chroma kept apart.

L is in [0, 100], a and b roughly in [-110, 110], as OpenCV's float conversion and the colour literature give
them. Inputs and outputs are (B, 3, H, W) tensors on any device.
"""

import torch

from ._checks import check_image_batch

_RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                            [0.212671, 0.715160, 0.072169],
                            [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754], dtype=torch.float64)
_EPSILON, _KAPPA = 216 / 24389, 24389 / 27


def _srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def _mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(x), x)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> L*a*b*."""
    check_image_batch(rgb, channels=3)
    xyz = _mix(_RGB_TO_XYZ, _srgb_to_linear(rgb.clamp(0, 1))) / _WHITE.to(rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > _EPSILON, xyz.clamp_min(_EPSILON) ** (1 / 3), (_KAPPA * xyz + 16) / 116)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """L*a*b* -> sRGB, clipped to [0, 1] (colours outside the sRGB gamut are clipped per channel)."""
    check_image_batch(lab, channels=3)
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    xyz = torch.where(f ** 3 > _EPSILON, f ** 3, (116 * f - 16) / _KAPPA) * _WHITE.to(lab).view(1, 3, 1, 1)
    return _linear_to_srgb(_mix(torch.linalg.inv(_RGB_TO_XYZ).to(lab), xyz).clamp(0, 1)).clamp(0, 1)


def lightness(rgb: torch.Tensor) -> torch.Tensor:
    """L* alone, (B, 3, H, W) -> (B, 1, H, W): what a colorizer sees of a picture."""
    check_image_batch(rgb, channels=3)
    y = _mix(_RGB_TO_XYZ[1:2], _srgb_to_linear(rgb.clamp(0, 1)))
    return torch.where(y > _EPSILON, 116 * y.clamp_min(_EPSILON) ** (1 / 3) - 16, _KAPPA * y)


def with_chroma(luma: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """sRGB from L* (B, 1, H, W) and a*b* (B, 2, H, W) of the same size."""
    if luma.ndim != 4 or luma.shape[1] != 1 or ab.ndim != 4 or ab.shape[1] != 2 or ab.shape[-2:] != luma.shape[-2:]:
        raise ValueError(f"expected (B, 1, H, W) and (B, 2, H, W), got {tuple(luma.shape)}, {tuple(ab.shape)}")
    return lab_to_rgb(torch.cat([luma, ab.to(luma)], dim=1))
