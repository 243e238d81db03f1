"""Upscaling: the network, applied as many times as fits the factor, then an exact resize."""

import math

import torch

from .._checks import check_image_batch
from ..degradations.functional import resize
from ..engine.runner import ModelRunner
from ..errors import LumiereError
from ..models.registry import DEFAULT_UPSCALERS
from .base import FrameStage

MAX_FACTOR = 8.0
MAX_SIDE = 16384
RESOLUTION_PRESETS = {"720p": (1280, 720), "1080p": (1920, 1080), "2k": (2560, 1440), "4k": (3840, 2160),
                      "8k": (7680, 4320)}


def target_size(width: int, height: int, *, scale: float | None = None, target_height: int | None = None,
                fit: str | None = None, even: bool = False) -> tuple[int, int]:
    """Output (width, height) for one of --scale, --height or --to; the aspect ratio is kept."""
    given = [name for name, value in (("--scale", scale), ("--height", target_height), ("--to", fit))
             if value is not None]
    if len(given) > 1:
        raise LumiereError(f"give only one of {', '.join(given)}")
    if scale is not None:
        if not (1 <= scale <= MAX_FACTOR) or math.isnan(scale):
            raise LumiereError(f"--scale must be between 1 and {MAX_FACTOR:g}, got {scale:g}")
        factor = scale
    elif target_height is not None:
        if target_height < height:
            raise LumiereError(f"--height {target_height} is below the input's {height}; lumiere does not shrink")
        factor = target_height / height
    elif fit is not None:
        if fit.lower() not in RESOLUTION_PRESETS:
            raise LumiereError(f"--to must be one of {', '.join(RESOLUTION_PRESETS)}, got {fit!r}")
        box_w, box_h = RESOLUTION_PRESETS[fit.lower()]
        factor = min(box_w / width, box_h / height)
        if factor < 1:
            raise LumiereError(f"the input ({width}x{height}) is already larger than {fit}")
    else:
        factor = 1.0
    if factor > MAX_FACTOR:
        raise LumiereError(f"that asks for x{factor:.2f}; the most lumiere upscales is x{MAX_FACTOR:g}")
    out_w, out_h = round(width * factor), round(height * factor)
    if target_height is not None:
        out_h = target_height
    if even:
        out_w, out_h = out_w + out_w % 2, out_h + out_h % 2
    if max(out_w, out_h) > MAX_SIDE:
        raise LumiereError(f"output would be {out_w}x{out_h}; the largest side lumiere writes is {MAX_SIDE}")
    return out_w, out_h


def default_model_for(factor: float) -> str:
    return DEFAULT_UPSCALERS[2] if factor <= 2 else DEFAULT_UPSCALERS[4]


def network_passes(factor: float, model_scale: int) -> int:
    """How often to run the network: as often as its scale fits into the factor, at least once."""
    if model_scale == 1:
        return 1
    return max(1, math.floor(math.log(factor) / math.log(model_scale) + 1e-6))


class UpscaleStage(FrameStage):
    name = "upscale"

    def __init__(self, runner: ModelRunner, input_size: tuple[int, int], output_size: tuple[int, int]):
        self.runner = runner
        self.input_size = input_size
        self.target = output_size
        factor = max(output_size[0] / input_size[0], output_size[1] / input_size[1])
        self.passes = network_passes(factor, runner.descriptor.scale)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        if (width, height) != self.input_size:
            raise ValueError(f"stage was planned for {self.input_size}, got {(width, height)}")
        return self.target

    def process(self, frames: torch.Tensor) -> torch.Tensor:
        check_image_batch(frames, channels=3)
        for _ in range(self.passes):
            frames = self.runner(frames).clamp(0, 1)
        out_w, out_h = self.target
        if frames.shape[-1] != out_w or frames.shape[-2] != out_h:
            frames = resize(frames, (out_h, out_w), "bicubic").clamp(0, 1)
        return frames
