"""Colorization pairs and loss: film-like lightness in, the clean picture's colour (as a*b* classes) out.

The loss is cross-entropy against soft targets (each pixel's true a*b* spread over its 5 nearest bins) with
class rebalancing: each pixel is weighted by the inverse of how common its colour is in the training data, that
frequency mixed with a uniform prior (half and half, as Zhang et al. do, unless the run says otherwise). Without
it, the frequent desaturated colours of walls, roads and skin dominate, and the network learns that brown is
always a safe answer.
"""

import torch
import torch.nn.functional as F
import torch.utils.data

from ..cielab import lightness, rgb_to_lab
from ..degradations.batched import apply_batch_params, draw_batch_params
from ..models.colornet import OUTPUT_STRIDE
from .data import CropSampler, degrade_batch, step_generator

SOFT_NEIGHBOURS = 5
SOFT_SIGMA = 5.0
PRIOR_SMOOTHING = 5.0
ZHANG_REBALANCE = 0.5  # the frequency's share in the mix, as Zhang et al.: the default
NEUTRAL_CHROMA = 8.0  # a true a*b* this near gray is a neutral surface (a wall, a backdrop, the sky's haze)
GARISH_CHROMA = 20.0  # colour this strong on a neutral surface is a blotch


def target_ab(rgb: torch.Tensor) -> torch.Tensor:
    """The colour a network working at 1/OUTPUT_STRIDE should predict: a*b* of the area-averaged picture."""
    return rgb_to_lab(F.avg_pool2d(rgb, OUTPUT_STRIDE))[:, 1:]


def nearest_bins(ab: torch.Tensor, bins: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices of the k nearest bins of each pixel: (B, 2, h, w) -> two (B, h, w, k)."""
    pixels = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    distances = torch.cdist(pixels.float(), bins.float())
    values, indices = distances.topk(k, dim=1, largest=False)
    shape = (*ab.shape[:1], *ab.shape[2:], k)
    return values.reshape(shape), indices.reshape(shape)


def soft_encode(ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """(B, 2, h, w) a*b* -> (B, Q, h, w) soft class targets summing to 1 per pixel."""
    distances, indices = nearest_bins(ab, bins, SOFT_NEIGHBOURS)
    weights = torch.softmax(-(distances**2) / (2 * SOFT_SIGMA**2), dim=-1)
    target = torch.zeros(ab.shape[0], *ab.shape[2:], bins.shape[0], device=ab.device)
    target.scatter_(-1, indices, weights)
    return target.permute(0, 3, 1, 2)


def rebalancing_weights(counts: torch.Tensor, bins: torch.Tensor,
                        rebalance: float = ZHANG_REBALANCE) -> torch.Tensor:
    """Per-bin loss weights from how often each bin occurs: smoothed, mixed with uniform (`rebalance` of the
    frequency, the rest uniform: 0 weighs every colour alike), inverted, mean 1."""
    if not 0 <= rebalance <= 1:
        raise ValueError(f"expected a rebalance in [0, 1], got {rebalance}")
    prior = counts.double() / counts.sum()
    kernel = torch.exp(-torch.cdist(bins.double(), bins.double()) ** 2 / (2 * PRIOR_SMOOTHING**2))
    prior = kernel @ prior
    prior = prior / prior.sum()
    weights = 1 / (rebalance * prior + (1 - rebalance) / bins.shape[0])
    return (weights / (prior * weights).sum()).float()


class ColourPairs(torch.utils.data.Dataset):
    """Item `step`: (film-like lightness L*/100 (B, 1, S, S), true a*b* (B, 2, S/4, S/4)) for that step.

    Like `DegradedPairs`, its randomness comes from (seed, step) alone.
    """

    def __init__(self, sampler: CropSampler, recipe, batch: int, seed: int, steps: int, params_only: bool = False):
        self.sampler, self.recipe, self.batch, self.seed, self.steps = sampler, recipe, batch, seed, steps
        self.params_only = params_only

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor | tuple, torch.Tensor]:
        """(lightness, a*b*); with `params_only`, ((the colour crops, their degradations' parameters), a*b*) for
        the training device to make the lightness from (`film_lightness`)."""
        generator = step_generator(self.seed, step)
        rgb = self.sampler.sample(self.batch, generator)
        if self.params_only:
            return (rgb, draw_batch_params(self.recipe, rgb.shape, generator)), target_ab(rgb)
        return lightness(degrade_batch(self.recipe, rgb, generator)) / 100, target_ab(rgb)


def film_lightness(recipe, rgb: torch.Tensor, params) -> torch.Tensor:
    """The network's input, L*/100 of the degraded crops, made on the crops' device from drawn parameters."""
    return lightness(apply_batch_params(recipe, rgb, params)) / 100


def colour_counts(pairs: ColourPairs, bins: torch.Tensor, batches: int) -> torch.Tensor:
    """How often each bin is the nearest to a target pixel, over the first `batches` training batches."""
    counts = torch.zeros(bins.shape[0])
    for step in range(min(batches, len(pairs))):
        _, ab = pairs[step]
        _, nearest = nearest_bins(ab, bins, 1)
        counts += torch.bincount(nearest.flatten(), minlength=bins.shape[0]).float()
    return counts


def rebalanced_cross_entropy(logits: torch.Tensor, ab: torch.Tensor, bins: torch.Tensor,
                             weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of (B, Q, h, w) logits against the soft-encoded (B, 2, h, w) colours, rebalanced."""
    target = soft_encode(ab, bins)
    per_pixel = -(target * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
    _, nearest = nearest_bins(ab, bins, 1)
    return (per_pixel * weights.to(logits.device)[nearest[..., 0]]).mean()


def neutral_penalty(logits: torch.Tensor, ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """The probability (B, Q, h, w) logits put on garish bins (chroma over GARISH_CHROMA), averaged over the
    pixels whose true (B, 2, h, w) a*b* is neutral: the cost of a green or purple blotch on a gray backdrop,
    which rebalancing (it weighs the common neutral colours down) leaves cheap."""
    if logits.ndim != 4 or ab.shape != (logits.shape[0], 2, *logits.shape[2:]) or logits.shape[1] != bins.shape[0]:
        raise ValueError(f"expected (B, {bins.shape[0]}, h, w) logits and (B, 2, h, w) a*b*, got "
                         f"{tuple(logits.shape)} and {tuple(ab.shape)}")
    garish = (bins.to(logits.device).norm(dim=1) > GARISH_CHROMA).float()
    mass = torch.einsum("bqhw,q->bhw", torch.softmax(logits.float(), dim=1), garish)
    neutral = (ab.norm(dim=1) < NEUTRAL_CHROMA).float()
    return (mass * neutral).sum() / neutral.sum().clamp_min(1)
