"""Reconstruction losses."""

import torch


def l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (prediction - target).abs().mean()


def charbonnier(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((prediction - target) ** 2 + eps**2).mean()


LOSSES = {"l1": l1, "charbonnier": charbonnier}
