"""Conversions between stored pixels (numpy, uint8/uint16, H x W x C) and float tensors (C x H x W, 0..1)."""

import numpy as np
import torch


def array_to_tensor(array: np.ndarray) -> torch.Tensor:
    if array.ndim != 3:
        raise ValueError(f"expected (H, W, C), got {array.shape}")
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    return torch.from_numpy(array.astype(np.float32) / scale).permute(2, 0, 1).contiguous()


def tensor_to_array(tensor: torch.Tensor, dtype: np.dtype = np.uint8) -> np.ndarray:
    if tensor.ndim != 3:
        raise ValueError(f"expected (C, H, W), got {tuple(tensor.shape)}")
    scale = 65535.0 if dtype == np.uint16 else 255.0
    values = (tensor.detach().float().clamp(0, 1) * scale).round()
    return values.permute(1, 2, 0).cpu().numpy().astype(dtype)
