"""Reconstruction losses."""

import torch


def l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (prediction - target).abs().mean()


def charbonnier(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((prediction - target) ** 2 + eps**2).mean()


LOSSES = {"l1": l1, "charbonnier": charbonnier}


def frequency(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the 2-D spectra's magnitudes: rewards restoring fine detail that plain L1 averages away."""
    spectrum_p = torch.fft.rfft2(prediction.float(), norm="ortho")
    spectrum_t = torch.fft.rfft2(target.float(), norm="ortho")
    return (spectrum_p.abs() - spectrum_t.abs()).abs().mean()
