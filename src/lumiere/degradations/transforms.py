"""Random degradations that draw their parameters once per clip.

Like torchvision's transforms v2: `make_params` draws, `transform` applies the
pure function from `functional` with those parameters to every frame of a clip
(a (T, C, H, W) tensor), so a clip is degraded consistently over time.
"""

from dataclasses import dataclass
from typing import Any

import torch

from .._checks import check_image_batch
from . import functional as Fd


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


class Degradation:
    """Base class: subclasses implement `make_params` and `transform`."""

    def make_params(self, frames: torch.Tensor, generator: torch.Generator) -> dict[str, Any]:
        return {}

    def transform(self, frames: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        check_image_batch(frames)
        return self.transform(frames, self.make_params(frames, generator))


@dataclass
class RandomApply(Degradation):
    """Apply `inner` to a whole clip with probability `p`."""

    inner: Degradation
    p: float

    def make_params(self, frames, generator):
        apply = torch.rand((), generator=generator).item() < self.p
        return {"apply": apply, "inner": self.inner.make_params(frames, generator) if apply else None}

    def transform(self, frames, params):
        return self.inner.transform(frames, params["inner"]) if params["apply"] else frames


@dataclass
class Compose(Degradation):
    steps: list[Degradation]

    def make_params(self, frames, generator):
        raise TypeError("Compose draws per step as it goes; call it directly")

    def __call__(self, frames, generator):
        check_image_batch(frames)
        for step in self.steps:
            frames = step(frames, generator)
        return frames


@dataclass
class GaussianBlur(Degradation):
    """Isotropic or anisotropic optical blur."""

    sigma: tuple[float, float] = (0.2, 1.5)
    anisotropic: bool = True

    def make_params(self, frames, generator):
        sx = _uniform(generator, *self.sigma)
        sy = _uniform(generator, *self.sigma) if self.anisotropic else sx
        angle = _uniform(generator, 0.0, 3.14159) if self.anisotropic else 0.0
        return {"kernel": Fd.gaussian_kernel2d(sx, sy, angle)}

    def transform(self, frames, params):
        return Fd.blur(frames, params["kernel"])


@dataclass
class Downsample(Degradation):
    """Shrink by `scale` with a kernel drawn from `modes`."""

    scale: int
    modes: tuple[str, ...] = ("bicubic",)

    def make_params(self, frames, generator):
        index = int(torch.randint(len(self.modes), (), generator=generator))
        return {"mode": self.modes[index]}

    def transform(self, frames, params):
        return Fd.downsample(frames, self.scale, params["mode"])


@dataclass
class GaussianNoise(Degradation):
    """Sensor noise; a fresh noise field every frame, the same strength for the clip."""

    sigma: tuple[float, float] = (1 / 255, 10 / 255)
    gray_probability: float = 0.4

    def make_params(self, frames, generator):
        seed = int(torch.randint(2**31 - 1, (), generator=generator))
        return {
            "sigma": _uniform(generator, *self.sigma),
            "gray": torch.rand((), generator=generator).item() < self.gray_probability,
            "seed": seed,
        }

    def transform(self, frames, params):
        noise_generator = torch.Generator(device=frames.device).manual_seed(params["seed"])
        return Fd.gaussian_noise(frames, params["sigma"], noise_generator, params["gray"])


@dataclass
class JpegCompression(Degradation):
    quality: tuple[int, int] = (40, 95)

    def make_params(self, frames, generator):
        low, high = self.quality
        return {"quality": int(torch.randint(low, high + 1, (), generator=generator))}

    def transform(self, frames, params):
        return Fd.jpeg(frames, params["quality"])


@dataclass
class Quantize(Degradation):
    """Store as 8-bit: clamp and round."""

    def transform(self, frames, params):
        return Fd.quantize(frames)
