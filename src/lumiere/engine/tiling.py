"""Tiled inference: cut a frame into tiles with context margins, run each, feather the seams.

Every tile is run with `margin` pixels of real context around its core. The
blend band (`feather` wide, centred on each core boundary) lies inside that
context, so every output pixel is computed with at least `margin - feather / 2`
pixels of context; for a network whose receptive radius is below that, tiled
and untiled results agree to float rounding.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._checks import check_image_batch


@dataclass(frozen=True)
class TileSpan:
    core_start: int
    core_end: int
    read_start: int
    read_end: int


def plan_spans(length: int, tile: int, margin: int) -> list[TileSpan]:
    """Split [0, length) into cores of at most `tile` and read windows with `margin` context."""
    if tile <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    count = max(1, -(-length // tile))
    bounds = [round(i * length / count) for i in range(count + 1)]
    return [TileSpan(a, b, max(0, a - margin), min(length, b + margin)) for a, b in zip(bounds, bounds[1:])]


def _ramp(span: TileSpan, length: int, feather: int, scale: int) -> torch.Tensor:
    """Weights along one axis for the output of this tile's read window."""
    positions = torch.arange(span.read_start * scale, span.read_end * scale, dtype=torch.float32) + 0.5
    half = feather * scale / 2
    weight = torch.ones_like(positions)
    if span.core_start > 0:
        weight = torch.minimum(weight, ((positions - (span.core_start * scale - half)) / (2 * half)).clamp(0, 1))
    if span.core_end < length:
        weight = torch.minimum(weight, (((span.core_end * scale + half) - positions) / (2 * half)).clamp(0, 1))
    return weight


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: int, tile: int,
              margin: int = 16, feather: int = 8) -> torch.Tensor:
    """Apply `fn` (which scales H and W by `scale`) to `x` tile by tile."""
    check_image_batch(x)
    if feather > 2 * margin:
        raise ValueError(f"feather ({feather}) must not exceed twice the margin ({margin})")
    batch, _, height, width = x.shape
    rows, cols = plan_spans(height, tile, margin), plan_spans(width, tile, margin)
    if len(rows) == 1 and len(cols) == 1:
        return fn(x)
    # The result is assembled where `fn` computes (a GPU, say), whatever device the input comes from.
    output: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    for row in rows:
        for col in cols:
            piece = fn(x[:, :, row.read_start:row.read_end, col.read_start:col.read_end]).float()
            if output is None or weights is None:
                output = torch.zeros(batch, piece.shape[1], height * scale, width * scale, device=piece.device)
                weights = torch.zeros(1, 1, height * scale, width * scale, device=piece.device)
            wy = _ramp(row, height, feather, scale).to(piece.device)
            wx = _ramp(col, width, feather, scale).to(piece.device)
            weight = (wy[:, None] * wx[None, :])[None, None]
            ys = slice(row.read_start * scale, row.read_end * scale)
            xs = slice(col.read_start * scale, col.read_end * scale)
            output[:, :, ys, xs] += piece * weight
            weights[:, :, ys, xs] += weight
    return output / weights.clamp_min(1e-8)


def pad_to_multiple(x: torch.Tensor, multiple: int, minimum: int = 0) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad the bottom/right so both sides are a multiple (and at least `minimum`)."""
    height, width = x.shape[-2:]
    target_h = max(minimum, -(-height // multiple) * multiple)
    target_w = max(minimum, -(-width // multiple) * multiple)
    pad_h, pad_w = target_h - height, target_w - width
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, pad_h, pad_w
