"""Shape checks shared by public tensor functions (kornia style: say what was received)."""

import torch


def check_image_batch(x: torch.Tensor, channels: int | None = None) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        want = f"(B, {channels}, H, W)" if channels is not None else "(B, C, H, W)"
        raise ValueError(f"expected {want}, got {tuple(x.shape)}")
