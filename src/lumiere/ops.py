"""Image helpers shared by every part of lumiere: stored pixels and float tensors, luma, and the 8-bit planes
OpenCV measures on (flow, cuts, shifts).

Stored pixels are numpy arrays (H, W, C) of uint8 or uint16; pictures in flight are float tensors (C, H, W) or
(B, C, H, W) in [0, 1].
"""

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ._checks import check_image_batch

BT601 = (0.299, 0.587, 0.114)  # luma weights of R, G, B


def array_to_tensor(array: np.ndarray) -> torch.Tensor:
    if array.ndim != 3:
        raise ValueError(f"expected (H, W, C), got {array.shape}")
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    return torch.from_numpy(array.astype(np.float32) / scale).permute(2, 0, 1).contiguous()


def quantize(tensor: torch.Tensor, dtype: np.dtype = np.uint8) -> torch.Tensor:
    """A picture (C, H, W) in [0, 1] as the levels of stored pixels of `dtype`, (H, W, C), on its own device:
    uint8, or int32 holding 16-bit levels (PyTorch's uint16 has too few operations)."""
    if tensor.ndim != 3:
        raise ValueError(f"expected (C, H, W), got {tuple(tensor.shape)}")
    sixteen = np.dtype(dtype) == np.uint16
    values = (tensor.detach().float().clamp(0, 1) * (65535.0 if sixteen else 255.0)).round()
    return values.permute(1, 2, 0).to(torch.int32 if sixteen else torch.uint8).contiguous()


def tensor_to_array(tensor: torch.Tensor, dtype: np.dtype = np.uint8) -> np.ndarray:
    return quantize(tensor, dtype).cpu().numpy().astype(dtype, copy=False)


def eight_bit(pixels: np.ndarray) -> np.ndarray:
    """Stored pixels as uint8 (16-bit ones reduced)."""
    return (pixels // 257).astype(np.uint8) if pixels.dtype == np.uint16 else pixels


def luma(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of (B, 3, H, W) in [0, 1] as (B, 1, H, W); a 1-channel input is returned as is."""
    check_image_batch(x)
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(BT601, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def luma_plane(picture: torch.Tensor) -> np.ndarray:
    """The luma of a picture (3, H, W) as a float32 array (H, W) in [0, 1]."""
    return luma(picture[None])[0, 0].float().cpu().numpy()


def to_u8(plane: np.ndarray) -> np.ndarray:
    """A plane of [0, 1] as uint8 levels, rounded."""
    return np.clip(np.rint(plane * 255), 0, 255).astype(np.uint8)


def luma_u8(picture: torch.Tensor) -> np.ndarray:
    """The luma of a picture (3, H, W) as uint8 (H, W): what flow and cut detection look at."""
    return to_u8(luma_plane(picture.clamp(0, 1)))


def shrink(plane: np.ndarray, longest: int) -> tuple[np.ndarray, float]:
    """A plane reduced (area average) so its longer side is at most `longest`, and the scale it was reduced by."""
    scale = min(1.0, longest / max(plane.shape[:2]))
    if scale == 1:
        return plane, 1.0
    return cv2.resize(plane, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), scale


def _box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    """The mean over a `size` x `size` neighbourhood (edges repeated), same shape: two 1-D passes."""
    before, after = (size - 1) // 2, size // 2
    x = F.pad(x, (before, after, before, after), mode="replicate")
    x = F.avg_pool2d(x, (size, 1), stride=1)
    return F.avg_pool2d(x, (1, size), stride=1)


def remove_lattice(picture: torch.Tensor, period: int, cells: int = 5) -> torch.Tensor:
    """A picture (B, C, H, W) without the regular `period`-pixel lattice a network ending in an x`period` pixel
    shuffle draws where its sub-pixel outputs disagree (the dotted pattern on drawn texture).

    The lattice is whatever repeats every `period` pixels once the local mean is taken out; it is estimated per
    sub-pixel position over `cells` x `cells` neighbouring cells of `period` px, so it may vary across the picture
    as the texture it rides on does, and subtracted. Detail that does not repeat on that grid is kept: on
    film-degraded Set14 the detailed look gains 0.04 dB of Y-PSNR (docs/benchmarks.md). H and W must be multiples
    of `period`.
    """
    check_image_batch(picture)
    if period < 2 or cells < 1:
        raise ValueError(f"expected a period of at least 2 and at least one cell, got {period} and {cells}")
    if picture.shape[-2] % period or picture.shape[-1] % period:
        raise ValueError(f"expected H and W multiples of the period {period}, got {tuple(picture.shape)}")
    # a box as wide as the period has zeros at every frequency k / period: the residual keeps the whole lattice
    residual = F.pixel_unshuffle(picture - _box_mean(picture, period), period)
    lattice = F.pixel_shuffle(_box_mean(residual, cells), period)
    return picture - lattice
