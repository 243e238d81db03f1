"""The degradation recipes applied to a whole batch at once, on the training device.

`train.data.degrade_batch` degrades each crop on the CPU as its own one-frame clip, which a GPU outruns many
times over. `degrade_on_device` draws every crop's parameters exactly as it does (the recipe's own
`make_params`, crop after crop, on the same CPU generator), then walks the recipe tree once: each step runs
as one batched call over the crops it applies to, with their parameters, on the device.

What differs from the CPU path, by design:
- noise values (sensor noise, film grain) come from a device generator seeded from the seeds the parameters
  carry: the same distributions, other samples;
- JPEG is a torch round trip modelled on libjpeg (`jpeg`), close to OpenCV's encoder but not bit-identical;
- H.264 has no batched device encoder: a single-frame clip is an intra-coded picture, and the stand-in is the
  torch JPEG at a quality matched to each crf by PSNR (`jpeg_quality_for_crf`).
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_image_batch
from ..ops import luma
from . import functional as Fd
from .transforms import (
    ClipShape,
    Compose,
    DefocusBlur,
    Degradation,
    Downsample,
    Dust,
    Fading,
    FilmGrain,
    Flicker,
    GateWeave,
    GaussianBlur,
    GaussianNoise,
    H264Compression,
    JpegCompression,
    LineScratches,
    Monochrome,
    OneOf,
    Quantize,
    RandomApply,
    Vignette,
)

Params = list[dict[str, Any]]


def degrade_on_device(recipe: Degradation, hr: torch.Tensor, generator: torch.Generator,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """Degrade each crop of `hr` (B, C, H, W) as `degrade_batch` does, batched on `device` (default: hr's).

    The parameters are the ones `degrade_batch` would draw from `generator`, which is left in the same state.
    Raises ValueError, before drawing anything, if the recipe holds a degradation with no batched version.
    """
    check_image_batch(hr)
    params = draw_batch_params(recipe, hr.shape, generator)
    return apply_batch_params(recipe, hr.to(device if device is not None else hr.device), params)


def draw_batch_params(recipe: Degradation, shape: Sequence[int], generator: torch.Generator) -> Params:
    """Every crop's parameters for a batch of `shape` (B, C, H, W), drawn as `degrade_batch` draws them: on the
    CPU (a data process), so that the device only applies them."""
    if len(shape) != 4:
        raise ValueError(f"expected a batch shape (B, C, H, W), got {tuple(shape)}")
    if generator.device.type != "cpu":
        raise ValueError(f"expected the CPU generator the parameters are drawn from, got one on {generator.device}")
    missing = sorted(unbatched_degradations(recipe))
    if missing:
        raise ValueError(f"no batched version of {', '.join(missing)}; degrade these crops with degrade_batch")
    return [recipe.make_params(ClipShape(1, *shape[1:]), generator) for _ in range(shape[0])]


def apply_batch_params(recipe: Degradation, hr: torch.Tensor, params: Params) -> torch.Tensor:
    """The crops `hr` (B, C, H, W), in [0, 1] on the device, degraded with `draw_batch_params`'s parameters."""
    check_image_batch(hr)
    if not hr.is_floating_point():
        raise TypeError(f"expected a floating-point batch in [0, 1], got {hr.dtype}")
    if len(params) != hr.shape[0]:
        raise ValueError(f"expected parameters for each of the {hr.shape[0]} crops, got {len(params)}")
    return _apply(recipe, hr, params)


def unbatched_degradations(recipe: Degradation) -> set[str]:
    """The class names of the degradations in `recipe` that `degrade_on_device` cannot apply."""
    kind = type(recipe)
    if kind is Compose:
        return set().union(*(unbatched_degradations(step) for step in recipe.steps))
    if kind is OneOf:
        return set().union(*(unbatched_degradations(choice) for choice in recipe.choices))
    if kind is RandomApply:
        return unbatched_degradations(recipe.inner)
    if kind is H264Compression and not _LOWEST_CRF <= recipe.crf[0] <= recipe.crf[1] < _LOWEST_CRF + len(
            _QUALITY_FOR_CRF):
        return {f"H264Compression(crf={recipe.crf}) (stand-in measured for crf {_LOWEST_CRF}.."
                f"{_LOWEST_CRF + len(_QUALITY_FOR_CRF) - 1})"}
    # exact types: a subclass may change what `transform` does
    return set() if kind in _LEAVES else {kind.__name__}


def _apply(step: Degradation, x: torch.Tensor, params: Params) -> torch.Tensor:
    if type(step) is Compose:
        for index, inner in enumerate(step.steps):
            x = _apply(inner, x, [p["steps"][index] for p in params])
        return x
    if type(step) is RandomApply:
        chosen = [i for i, p in enumerate(params) if p["apply"]]
        return _apply_to_subsets(x, [(step.inner, chosen)], params)
    if type(step) is OneOf:
        picked = [[i for i, p in enumerate(params) if p["index"] == k] for k in range(len(step.choices))]
        return _apply_to_subsets(x, list(zip(step.choices, picked, strict=True)), params)
    return _LEAVES[type(step)](step, x, params)


def _apply_to_subsets(x: torch.Tensor, groups: list[tuple[Degradation, list[int]]], params: Params) -> torch.Tensor:
    """Apply each degradation to its subset of the crops, with their "inner" parameters; crops in no subset pass
    unchanged."""
    results = []
    for step, members in groups:
        if members:
            index = torch.tensor(members, device=x.device)
            results.append((index, _apply(step, x[index], [params[i]["inner"] for i in members])))
    covered = sum(len(index) for index, _ in results)
    shapes = {out.shape[1:] for _, out in results} | ({x.shape[1:]} if covered < len(x) else set())
    if len(shapes) > 1:
        # degrade_batch could not stack these crops either
        raise ValueError(f"crops of one batch would leave with different shapes: {sorted(map(tuple, shapes))}")
    if covered == len(x) and len(results) == 1:
        return results[0][1]
    out = x.clone() if covered < len(x) else x.new_empty((len(x), *shapes.pop()))
    for index, result in results:
        out[index] = result
    return out


def _device_generator(seeds: Sequence[int], device: torch.device) -> torch.Generator:
    """A generator for one batched draw, seeded from all its crops' seeds: the same crops, the same noise."""
    state = np.random.SeedSequence([int(s) for s in seeds]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))


def _per_crop(values: Sequence[float], x: torch.Tensor) -> torch.Tensor:
    """One value per crop, shaped to broadcast over (B, C, H, W)."""
    return torch.tensor(values, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)


def _blur(step: GaussianBlur | DefocusBlur, x: torch.Tensor, params: Params) -> torch.Tensor:
    """Each crop with its own kernel, in one grouped convolution.

    Kernels are zero-padded to the largest size. Reflection is defined by position, not by the padding width,
    so the wider padding feeds each kernel the same pixels `functional.blur` does.
    """
    kernels = [p["kernel"] for p in params]
    size = max(k.shape[0] for k in kernels)
    padded = torch.stack([F.pad(k, [(size - k.shape[0]) // 2] * 4) for k in kernels]).to(x)
    batch, channels, height, width = x.shape
    weight = padded.repeat_interleave(channels, dim=0)[:, None]
    pad = size // 2
    if pad >= min(height, width):
        raise ValueError(f"a {size}x{size} kernel needs crops larger than {height}x{width}")
    flat = F.pad(x.reshape(1, batch * channels, height, width), (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(flat, weight, groups=batch * channels).view(batch, channels, height, width)


def _downsample(step: Downsample, x: torch.Tensor, params: Params) -> torch.Tensor:
    by_mode: dict[str, list[int]] = {}
    for i, p in enumerate(params):
        by_mode.setdefault(p["mode"], []).append(i)
    if len(by_mode) == 1:
        return Fd.downsample(x, step.scale, next(iter(by_mode)))
    out = x.new_empty((len(x), x.shape[1], x.shape[2] // step.scale, x.shape[3] // step.scale))
    for mode, members in by_mode.items():
        index = torch.tensor(members, device=x.device)
        out[index] = Fd.downsample(x[index], step.scale, mode)
    return out


def _gaussian_noise(step: GaussianNoise, x: torch.Tensor, params: Params) -> torch.Tensor:
    noise = torch.randn(x.shape, generator=_device_generator([p["seed"] for p in params], x.device),
                        dtype=x.dtype, device=x.device)
    gray = torch.tensor([p["gray"] for p in params], device=x.device).view(-1, 1, 1, 1)
    noise = torch.where(gray, noise[:, :1], noise)  # a gray crop's one noise plane, shared by its channels
    return x + _per_crop([p["sigma"] for p in params], x) * noise


def _upsampling_matrix(small: int, full: int, x: torch.Tensor) -> torch.Tensor:
    """(full, small): what bicubic enlargement (align_corners=False) does along one axis.

    Bicubic enlargement is separable and linear, so interpolating the identity gives its matrix; the other
    axis, small to small, is the identity under PyTorch's cubic weights (exactly 0, 1, 0, 0 at offset 0).
    """
    eye = torch.eye(small, dtype=x.dtype, device=x.device)[None, None]
    return F.interpolate(eye, size=(full, small), mode="bicubic", align_corners=False)[0, 0]


def _film_grain(step: FilmGrain, x: torch.Tensor, params: Params) -> torch.Tensor:
    """`functional.film_grain` for every crop at once, each at its own grain size.

    Each crop's grain is white noise at round(side / size) enlarged bicubically; as a matrix product
    A_h N A_w^T, with each A zero-padded to the batch's largest noise field, all sizes share one batched
    matmul and the grain keeps exactly the CPU path's distribution.
    """
    batch, channels, height, width = x.shape
    sizes = [max(1.0, p["size"]) for p in params]
    small_h = [max(1, round(height / s)) for s in sizes]
    small_w = [max(1, round(width / s)) for s in sizes]
    rows, columns = max(small_h), max(small_w)
    enlarge_h = torch.stack([F.pad(_upsampling_matrix(h, height, x), (0, rows - h)) for h in small_h])
    enlarge_w = torch.stack([F.pad(_upsampling_matrix(w, width, x), (0, columns - w)) for w in small_w])
    white = torch.randn((batch, channels, rows, columns), generator=_device_generator(
        [p["seed"] for p in params], x.device), dtype=x.dtype, device=x.device)
    grain = enlarge_h[:, None] @ white @ enlarge_w[:, None].transpose(-1, -2)
    color = torch.tensor([p["color"] for p in params], device=x.device).view(-1, 1, 1, 1)
    spread = torch.where(color, grain.std(dim=(1, 2, 3), keepdim=True), grain[:, :1].std(dim=(1, 2, 3), keepdim=True))
    grain = torch.where(color, grain, grain[:, :1]) / spread.clamp_min(1e-6)
    y = luma(x).clamp(0, 1)
    response = 0.25 + 1.5 * torch.sqrt(y * (1 - y))  # as functional.film_grain: strongest in the mid-tones
    return x + _per_crop([p["strength"] for p in params], x) * response * grain


def _ranked(items: list[list[Any]]) -> list[tuple[torch.Tensor, list[Any]]]:
    """Round k: the crops that have a k-th item, and those items. Painting round by round keeps each crop's
    order of overlapping marks, as painting crop by crop does."""
    rounds = []
    for k in range(max((len(crop) for crop in items), default=0)):
        members = [i for i, crop in enumerate(items) if len(crop) > k]
        rounds.append((torch.tensor(members), [items[i][k] for i in members]))
    return rounds


def _dust(step: Dust, x: torch.Tensor, params: Params) -> torch.Tensor:
    """`functional.paint_specks` on whole crops: a speck's alpha is zero past its radius + 0.7 anyway, well
    inside the window the CPU path paints."""
    specks = [p["specks"][p["specks"][:, 0] == 0].tolist() for p in params]
    out = x.clone()
    height, width = x.shape[-2:]
    yy = torch.arange(height, device=x.device, dtype=x.dtype).view(1, 1, -1, 1)
    xx = torch.arange(width, device=x.device, dtype=x.dtype).view(1, 1, 1, -1)
    for members, marks in _ranked(specks):
        _, cx, cy, radius, value, opacity = (_per_crop(column, x) for column in zip(*marks, strict=True))
        distance = torch.sqrt((yy - cy * (height - 1)) ** 2 + ((xx - cx * (width - 1)) * 1.3) ** 2)
        alpha = opacity * (radius + 0.7 - distance).clamp(0, 1)
        index = members.to(x.device)
        out[index] = out[index] * (1 - alpha) + value * alpha
    return out


def _line_scratches(step: LineScratches, x: torch.Tensor, params: Params) -> torch.Tensor:
    """`functional.vertical_scratch` for the k-th scratch of every crop at once (a one-frame clip shows all of
    its scratches, at their start)."""
    height, width = x.shape[-2:]
    rows = torch.arange(height, device=x.device, dtype=x.dtype).view(1, 1, -1, 1)
    columns = torch.arange(width, device=x.device, dtype=x.dtype).view(1, 1, 1, -1)
    out = x
    for members, scratches in _ranked([[s for s in p["scratches"] if s["start"] <= 0 < s["end"]] for p in params]):
        def column(key, scratches=scratches):
            return _per_crop([s[key] for s in scratches], x)

        position = column("position").clamp(0.01, 0.99)
        centre = position * (width - 1) + column("wobble") * torch.sin(rows / max(1, height) * 6.2832
                                                                        + column("phase"))
        distance = (columns - centre).abs()
        # the dash pattern comes from the scratch's own seed on the CPU: the very dashes the CPU path draws
        shown_rows = [LineScratches._rows_shown(s, height, 0, torch.device("cpu")) for s in scratches]
        shown_rows = torch.stack([torch.ones(height) if r is None else r for r in shown_rows]).to(x)
        shown = column("opacity") * shown_rows.view(len(scratches), 1, height, 1)
        alpha = shown * (column("width") / 2 + 0.5 - distance).clamp(0, 1)
        value = column("value")
        index = members.to(x.device)
        marked = out[index] * (1 - alpha) + value * alpha
        flank = column("halo") * shown * (1 - (distance - column("width") / 2 - 1).abs()).clamp(0, 1)
        out = out.index_copy(0, index, marked + flank * (marked - value))
    return out


def _flicker(step: Flicker, x: torch.Tensor, params: Params) -> torch.Tensor:
    return Fd.brightness(x, _per_crop([float(p["gain"][0]) for p in params], x),
                         _per_crop([float(p["offset"][0]) for p in params], x))


def _vignette(step: Vignette, x: torch.Tensor, params: Params) -> torch.Tensor:
    return Fd.vignette(x, _per_crop([p["strength"] for p in params], x), _per_crop([p["softness"] for p in params], x))


def _gate_weave(step: GateWeave, x: torch.Tensor, params: Params) -> torch.Tensor:
    return Fd.translate(x, torch.stack([p["shifts"][0] for p in params]))


def _fading(step: Fading, x: torch.Tensor, params: Params) -> torch.Tensor:
    return Fd.fade(x, *(_per_crop([p[key] for p in params], x) for key in ("contrast", "black", "gamma")))


def _monochrome(step: Monochrome, x: torch.Tensor, params: Params) -> torch.Tensor:
    return Fd.monochrome(x, [p["tint"] for p in params])


def _jpeg_step(step: JpegCompression, x: torch.Tensor, params: Params) -> torch.Tensor:
    return jpeg(x, [p["quality"] for p in params])


def _h264_step(step: H264Compression, x: torch.Tensor, params: Params) -> torch.Tensor:
    check_image_batch(x, channels=3)  # as functional.h264: the encoder takes RGB only
    return jpeg(x, [jpeg_quality_for_crf(p["crf"]) for p in params])


def _quantize(step: Quantize, x: torch.Tensor, params: Params) -> torch.Tensor:
    return Fd.quantize(x)


_LEAVES: dict[type, Callable[[Any, torch.Tensor, Params], torch.Tensor]] = {
    GaussianBlur: _blur,
    DefocusBlur: _blur,
    Downsample: _downsample,
    GaussianNoise: _gaussian_noise,
    FilmGrain: _film_grain,
    Dust: _dust,
    LineScratches: _line_scratches,
    Flicker: _flicker,
    Vignette: _vignette,
    GateWeave: _gate_weave,
    Fading: _fading,
    Monochrome: _monochrome,
    JpegCompression: _jpeg_step,
    H264Compression: _h264_step,
    Quantize: _quantize,
}


# The example quantization tables of the JPEG standard (ITU-T T.81, Annex K), which libjpeg scales by quality.
_LUMA_TABLE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)
_CHROMA_TABLE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
) + (99,) * 32


def quantization_tables(quality: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The (8, 8) luminance and chrominance tables libjpeg uses at `quality` (1..100), baseline-limited."""
    if not 1 <= quality <= 100:
        raise ValueError(f"expected quality in 1..100, got {quality}")
    percent = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(torch.tensor([min(255, max(1, (entry * percent + 50) // 100)) for entry in table]).view(8, 8)
                 for table in (_LUMA_TABLE, _CHROMA_TABLE))


def _dct_matrix(x: torch.Tensor) -> torch.Tensor:
    """The orthonormal 8-point DCT-II, which is JPEG's: D @ block @ D.T gives the coefficients."""
    u = torch.arange(8, dtype=torch.float64)[:, None]
    k = torch.arange(8, dtype=torch.float64)[None, :]
    matrix = torch.cos((2 * k + 1) * u * math.pi / 16) * 0.5
    matrix[0] = math.sqrt(1 / 8)
    return matrix.to(x)


def _code_plane(plane: torch.Tensor, tables: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """Encode and decode (B, 1, H, W) levels 0..255, sides multiples of 8, with per-crop (B, 8, 8) tables."""
    batch, _, height, width = plane.shape
    blocks = (plane - 128).view(batch, height // 8, 8, width // 8, 8).transpose(2, 3)
    table = tables.to(plane).view(batch, 1, 1, 8, 8)
    coefficients = torch.round(dct @ blocks @ dct.T / table) * table
    decoded = (dct.T @ coefficients @ dct).transpose(2, 3).reshape(batch, 1, height, width)
    return torch.round(decoded + 128).clamp(0, 255)


def jpeg(x: torch.Tensor, quality: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """A JPEG round trip of every crop at its own quality (1..100), in torch on x's device.

    Modelled on libjpeg's defaults, as OpenCV's encoder uses them: 8-bit levels, full-range BT.601 YCbCr,
    chroma averaged 2x2 (4:2:0) and enlarged back by the decoder's triangle ("fancy") filter, edges padded by
    repetition to whole blocks, the Annex K tables scaled by quality. A 1-channel crop is coded as a gray JPEG
    (luminance only). It uses an exact float DCT where libjpeg uses integer ones, so results may differ from
    OpenCV's by a level here and there.
    """
    check_image_batch(x)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels, got {tuple(x.shape)}")
    qualities = [int(q) for q in (quality.tolist() if isinstance(quality, torch.Tensor) else quality)]
    if len(qualities) != x.shape[0]:
        raise ValueError(f"expected one quality per crop ({x.shape[0]}), got {len(qualities)}")
    tables = [quantization_tables(q) for q in qualities]
    luma_tables = torch.stack([t[0] for t in tables])
    chroma_tables = torch.stack([t[1] for t in tables])
    height, width = x.shape[-2:]
    block = 8 if x.shape[1] == 1 else 16  # a colour MCU holds 2x2 luma blocks over one chroma block
    work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    levels = torch.round(work.clamp(0, 1) * 255)
    levels = F.pad(levels, (0, -width % block, 0, -height % block), mode="replicate")
    dct = _dct_matrix(levels)
    if x.shape[1] == 1:
        return (_code_plane(levels, luma_tables, dct)[..., :height, :width] / 255).to(x.dtype)
    r, g, b = levels.unbind(dim=1)
    y = torch.round(0.299 * r + 0.587 * g + 0.114 * b)
    cb = torch.round(-0.168736 * r - 0.331264 * g + 0.5 * b + 128)
    cr = torch.round(0.5 * r - 0.418688 * g - 0.081312 * b + 128)
    chroma = torch.round(F.avg_pool2d(torch.stack([cb, cr], dim=1), 2))
    y = _code_plane(y[:, None], luma_tables, dct)
    cb, cr = (F.interpolate(_code_plane(plane, chroma_tables, dct), scale_factor=2, mode="bilinear",
                            align_corners=False) - 128 for plane in chroma.split(1, dim=1))
    rgb = torch.cat([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], dim=1)
    return (torch.round(rgb).clamp(0, 255)[..., :height, :width] / 255).to(x.dtype)


# The torch-JPEG quality whose mean PSNR matches libx264's (functional.h264, veryfast) at crf 8, 9, ... 44 on a
# one-frame clip. Measured on 50 BSDS500 training crops of 128 px, at x4 and x2 (bicubic, 8-bit) and x1, each
# plain and with film grain (strength 0.05, size 1.5): six sets; for each crf the quality minimising the mean over
# the sets of the PSNR gap. Every set's gap is then within 0.8 dB (within 0.4 dB for crf 18..28, film's range).
_QUALITY_FOR_CRF = (93, 93, 92, 92, 91, 90, 88, 87, 85, 83, 80, 76, 73, 68, 62, 55, 46, 38, 32, 27, 22, 19, 16,
                    14, 12, 10, 9, 8, 7, 7, 6, 5, 5, 5, 4, 4, 4)
_LOWEST_CRF = 8


def jpeg_quality_for_crf(crf: int) -> int:
    """The torch-JPEG quality that stands in for libx264 at `crf` on a one-frame clip (an intra picture): the
    same mean PSNR on photos, though blocking where x264 deblocks. Only the measured crfs (8..44) are known.

    On pictures of random colour noise the two part ways (up to 3 dB at crf 28): x264 spends its bits on
    chroma differently from libjpeg. Film's pictures are photos."""
    highest = _LOWEST_CRF + len(_QUALITY_FOR_CRF) - 1
    if not _LOWEST_CRF <= crf <= highest:
        raise ValueError(f"the H.264 stand-in is measured for crf {_LOWEST_CRF}..{highest}, got {crf}")
    return _QUALITY_FOR_CRF[crf - _LOWEST_CRF]
