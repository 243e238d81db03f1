"""Running a network: device, precision, channels-last, tiling, out-of-memory recovery and an output check.

Every network lumiere runs (upscalers, film-clean, the colorizer, the repair network, imported ones) runs
through a `ModelRunner`, so `--device`, `--precision` and `--tile` mean the same for every stage.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from .._checks import check_image_batch
from ..errors import LumiereError, ModelError
from ..models.descriptor import LoadedModel
from ..models.loader import interpolate_models, load_model
from .int8 import Int8Network
from .precision import select_device, select_dtype, select_int8
from .tiling import pad_to_multiple, run_tiled

log = logging.getLogger(__name__)

MIN_TILE = 32
# Bytes of working memory per input pixel per feature channel, measured on Compact and ESRGAN-style
# networks (activations of a few layers alive at once, plus the output).
_BYTES_PER_PIXEL_CHANNEL = 4 * 6
_FEATURE_GUESS = 64


def available_memory(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 1024**3


# A recurrent network keeps, for every frame of the sequence, its features of one direction and its output until
# the sequence is done; one frame's enlargement at a time is transient, counted above.
_SEQUENCE_BYTES_PER_PIXEL_FRAME = 4 * (_FEATURE_GUESS + 3 * 16 + 4)


def auto_tile(loaded: LoadedModel, device: torch.device, dtype: torch.dtype, frames: int = 1) -> int:
    """The largest square tile whose working memory fits in half the free memory; for a recurrent network, with a
    sequence of `frames` frames."""
    descriptor = loaded.descriptor
    per_pixel = _BYTES_PER_PIXEL_CHANNEL * _FEATURE_GUESS * torch.finfo(dtype).bits // 32
    per_pixel += 4 * descriptor.output_channels * descriptor.scale**2 * 2
    if descriptor.sequence:
        per_pixel += frames * _SEQUENCE_BYTES_PER_PIXEL_FRAME
    side = int((available_memory(device) // 2 // per_pixel) ** 0.5)
    return max(MIN_TILE, min(side, 4096))


def to_device(x: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`x` on `device` in `dtype`. From host memory to a GPU through pinned memory, a copy the CPU does not wait
    for, in the stored precision (converted on the GPU)."""
    if device.type == "cuda" and x.device.type == "cpu":
        x = x.pin_memory().to(device, non_blocking=True)
    return x.to(device, dtype)


def check_finite(output: torch.Tensor, model_name: str) -> torch.Tensor:
    """Refuse a network's output that holds NaN or infinity: it would be written as black or garbage."""
    if not torch.isfinite(output).all():
        raise ModelError(f"model {model_name} gave NaN or infinite values: its weights are broken, or it "
                         "overflowed at this precision")
    return output


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)


Outputs = TypeVar("Outputs", torch.Tensor, tuple[torch.Tensor, ...])


@dataclass(frozen=True)
class RunnerSettings:
    """How every network of a job runs: plain data, so a plan carrying it pickles to other processes."""

    device: str = "auto"  # auto, cpu, cuda, cuda:N or mps
    precision: str = "auto"  # auto, fp32, fp16, bf16 or int8
    tile: int | None = None  # None: automatic; 0: never tile
    margin: int = 16
    feather: int = 8


class ModelRunner:
    """Applies one model on its device and in its precision; inputs and outputs are float32.

    Calling it maps a batch of pictures (B, C, H, W) in [0, 1] to the model's pictures, tiled, in int8 where
    `select_int8` says so; `run` applies any other use of the model (a colorizer's features, a repair network's
    two outputs) to whole inputs, in PyTorch.
    """

    def __init__(self, loaded: LoadedModel, settings: RunnerSettings):
        self.descriptor = loaded.descriptor
        self.device = select_device(settings.device)
        self.int8 = select_int8(self.device, loaded, settings.precision)
        # int8 is the convolutions' arithmetic; the network's other operations and its inputs stay float32
        self.dtype = torch.float32 if self.int8 else select_dtype(self.device, self.descriptor, settings.precision)
        self.margin, self.feather = settings.margin, settings.feather
        self.module = loaded.module.to(self.device, self.dtype).eval()
        self.picture_network: Callable[[torch.Tensor], torch.Tensor] = self.module
        if self.int8:
            self.picture_network = Int8Network(self.module, loaded.int8_ranges, self.descriptor.input_channels)
        # channels-last is for 4-D weights; 5-D ones (StyleGAN's modulated convolutions in GFPGAN) refuse it
        self.channels_last = self.device.type in ("cpu", "cuda") and all(
            tensor.dim() != 5 for tensor in (*self.module.parameters(), *self.module.buffers()))
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.automatic_tile = settings.tile is None
        if settings.tile is None:
            tile = auto_tile(loaded, self.device, self.dtype)
        elif settings.tile == 0:
            tile = 1 << 30
        else:
            tile = max(MIN_TILE, settings.tile)
        if self.descriptor.tiling == "discouraged" and settings.tile is None:
            tile = 1 << 30
        self.tile = tile

    def describe(self, picture_side: int) -> str:
        """"film-x2 (Compact, cpu bf16)", with the tile side where pictures of `picture_side` are tiled."""
        precision = "int8" if self.int8 else {torch.float32: "fp32", torch.float16: "fp16",
                                              torch.bfloat16: "bf16"}[self.dtype]
        tiles = f", {self.tile} px tiles" if self.tile < picture_side else ""
        return f"{self.descriptor.name} ({self.descriptor.architecture}, {self.device.type} {precision}{tiles})"

    @torch.inference_mode()
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x, pad_h, pad_w = pad_to_multiple(x, self.descriptor.size_multiple, self.descriptor.min_size)
        x = to_device(x, self.device, self.dtype)
        if self.channels_last and not self.int8:
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.picture_network(x).float()
        scale = self.descriptor.scale
        height, width = y.shape[-2] - pad_h * scale, y.shape[-1] - pad_w * scale
        return y[..., :height, :width]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, channels=self.descriptor.input_channels)
        if self.descriptor.sequence and self.automatic_tile:  # its memory grows with the sequence's length
            self.tile = min(self.tile, auto_tile(LoadedModel(self.descriptor, self.module), self.device,
                                                 self.dtype, len(x)))
        return self._finite(lambda: self._tiled(x))

    def run(self, forward: Callable[..., Outputs], *inputs: torch.Tensor) -> Outputs:
        """`forward(module, *inputs)` with the inputs on the model's device, in its precision, untiled.

        Tensors come back float32 on the model's device.
        """
        def once():
            with torch.inference_mode():
                moved = [to_device(x, self.device, self.dtype) for x in inputs]
                if self.channels_last:
                    moved = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in moved]
                outputs = forward(self.module, *moved)
            if isinstance(outputs, torch.Tensor):
                return outputs.float()
            return tuple(output.float() for output in outputs)

        try:
            return self._finite(once)
        except Exception as exc:
            if not _is_out_of_memory(exc):
                raise
            raise LumiereError(f"out of memory running {self.descriptor.name} on {self.device}; free memory "
                               "or run on another $device") from None

    def _finite(self, produce: Callable[[], Outputs]) -> Outputs:
        """The outputs of `produce`, produced again in fp32 if reduced precision overflowed to NaN or infinity."""
        outputs = produce()
        tensors = (outputs,) if isinstance(outputs, torch.Tensor) else outputs
        if all(torch.isfinite(t).all() for t in tensors):  # one pass over the outputs on the usual path
            return outputs
        if self.dtype != torch.float32 or self.int8:
            log.warning("model %s overflowed in %s; running it in fp32 from here on", self.descriptor.name,
                        "int8" if self.int8 else str(self.dtype).removeprefix("torch."))
            self.dtype, self.int8 = torch.float32, False
            self.module = self.module.float()
            self.picture_network = self.module
            outputs = produce()
            tensors = (outputs,) if isinstance(outputs, torch.Tensor) else outputs
        for tensor in tensors:
            check_finite(tensor, self.descriptor.name)
        return outputs

    def _tiled(self, x: torch.Tensor) -> torch.Tensor:
        while True:
            try:
                return run_tiled(self._forward, x, self.descriptor.scale, self.tile, self.margin, self.feather)
            except Exception as exc:
                if not _is_out_of_memory(exc):
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                largest_side = max(x.shape[-2:])
                next_tile = min(self.tile, largest_side) // 2
                if next_tile < MIN_TILE:
                    raise LumiereError(f"out of memory even with {MIN_TILE} px tiles on {self.device}") from None
                log.warning("out of memory with %d px tiles on %s; retrying with %d px", min(self.tile, largest_side),
                            self.device, next_tile)
                self.tile = next_tile


class Runners:
    """Every network of a job, each loaded once and run with the job's runner settings."""

    def __init__(self, settings: RunnerSettings):
        self.settings = settings
        self._runners: dict[str, ModelRunner] = {}

    def get(self, name: str, roles: tuple[str, ...], settings: RunnerSettings | None = None) -> ModelRunner:
        return self._cached(name, lambda: load_model(name, roles), settings)

    def blended(self, name: str, towards: str, share: float, roles: tuple[str, ...]) -> ModelRunner:
        """`name`'s network moved `share` of the way to `towards`'s, weight by weight (same architecture)."""
        return self._cached(f"{name}~{towards}@{share:g}", lambda: interpolate_models(
            load_model(name, roles), load_model(towards, roles), share))

    def loaded(self) -> list[ModelRunner]:
        """The networks loaded so far, in the order they were first asked for."""
        return list(self._runners.values())

    def _cached(self, key: str, load, settings: RunnerSettings | None = None) -> ModelRunner:
        if key not in self._runners:
            self._runners[key] = ModelRunner(load(), settings or self.settings)
        return self._runners[key]
