"""Random degradations that draw their parameters once per clip.

Like torchvision's transforms v2: `make_params` draws everything random for a
whole clip at once (from its shape, so a long film can then be degraded window
by window), and `transform` applies the pure function from `functional` to a
window of frames, (T, C, H, W), whose first frame has index `first` in the clip.
What film really varies per frame (grain, dust, flicker, weave) is drawn per
frame inside `make_params`; everything else holds for the clip.
"""

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from .._checks import check_image_batch
from . import functional as Fd


class ClipShape(NamedTuple):
    frames: int
    channels: int
    height: int
    width: int


def _uniform(generator: torch.Generator, low: float, high: float, count: int | None = None):
    if count is None:
        return low + (high - low) * torch.rand((), generator=generator).item()
    return low + (high - low) * torch.rand(count, generator=generator)


def _chance(generator: torch.Generator, p: float) -> bool:
    return torch.rand((), generator=generator).item() < p


def _seed(generator: torch.Generator) -> int:
    return int(torch.randint(2**31 - 1, (), generator=generator))


def _frame_generator(seed: int, index: int, device: torch.device) -> torch.Generator:
    """A generator for one frame, the same whichever window that frame arrives in."""
    return torch.Generator(device=device).manual_seed(seed + index)


class Degradation:
    """Base class: subclasses implement `make_params` and `transform`."""

    def make_params(self, shape: ClipShape, generator: torch.Generator) -> dict[str, Any]:
        return {}

    def transform(self, frames: torch.Tensor, params: dict[str, Any], first: int = 0) -> torch.Tensor:
        raise NotImplementedError

    def output_shape(self, shape: ClipShape) -> ClipShape:
        return shape

    def __call__(self, frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Degrade a whole clip held in memory."""
        check_image_batch(frames)
        return self.transform(frames, self.make_params(ClipShape(*frames.shape), generator))


@dataclass
class RandomApply(Degradation):
    """Apply `inner` to a whole clip with probability `p`."""

    inner: Degradation
    p: float

    def make_params(self, shape, generator):
        apply = _chance(generator, self.p)
        return {"apply": apply, "inner": self.inner.make_params(shape, generator) if apply else None}

    def transform(self, frames, params, first=0):
        return self.inner.transform(frames, params["inner"], first) if params["apply"] else frames

    def output_shape(self, shape):
        return self.inner.output_shape(shape)


@dataclass
class OneOf(Degradation):
    """Apply one of `choices`, picked once per clip with the given weights."""

    choices: list[Degradation]
    weights: list[float]

    def make_params(self, shape, generator):
        index = int(torch.multinomial(torch.tensor(self.weights), 1, generator=generator))
        return {"index": index, "inner": self.choices[index].make_params(shape, generator)}

    def transform(self, frames, params, first=0):
        return self.choices[params["index"]].transform(frames, params["inner"], first)

    def output_shape(self, shape):
        shapes = {choice.output_shape(shape) for choice in self.choices}
        if len(shapes) != 1:
            raise ValueError("OneOf choices must agree on the output shape")
        return shapes.pop()


@dataclass
class Compose(Degradation):
    steps: list[Degradation]

    def make_params(self, shape, generator):
        params = []
        for step in self.steps:
            params.append(step.make_params(shape, generator))
            shape = step.output_shape(shape)
        return {"steps": params}

    def transform(self, frames, params, first=0):
        for step, step_params in zip(self.steps, params["steps"], strict=True):
            frames = step.transform(frames, step_params, first)
        return frames

    def output_shape(self, shape):
        for step in self.steps:
            shape = step.output_shape(shape)
        return shape


@dataclass
class GaussianBlur(Degradation):
    """Isotropic or anisotropic optical blur."""

    sigma: tuple[float, float] = (0.2, 1.5)
    anisotropic: bool = True

    def make_params(self, shape, generator):
        sx = _uniform(generator, *self.sigma)
        sy = _uniform(generator, *self.sigma) if self.anisotropic else sx
        angle = _uniform(generator, 0.0, 3.14159) if self.anisotropic else 0.0
        return {"kernel": Fd.gaussian_kernel2d(sx, sy, angle)}

    def transform(self, frames, params, first=0):
        return Fd.blur(frames, params["kernel"])


@dataclass
class DefocusBlur(Degradation):
    """An out-of-focus lens: a disk kernel."""

    radius: tuple[float, float] = (0.8, 2.5)

    def make_params(self, shape, generator):
        return {"kernel": Fd.disk_kernel(_uniform(generator, *self.radius))}

    def transform(self, frames, params, first=0):
        return Fd.blur(frames, params["kernel"])


@dataclass
class Downsample(Degradation):
    """Shrink by `scale` with a kernel drawn from `modes`."""

    scale: int
    modes: tuple[str, ...] = ("bicubic",)

    def make_params(self, shape, generator):
        index = int(torch.randint(len(self.modes), (), generator=generator))
        return {"mode": self.modes[index]}

    def transform(self, frames, params, first=0):
        return Fd.downsample(frames, self.scale, params["mode"])

    def output_shape(self, shape):
        return shape._replace(height=shape.height // self.scale, width=shape.width // self.scale)


@dataclass
class GaussianNoise(Degradation):
    """Sensor noise: a fresh noise field every frame, one strength for the clip."""

    sigma: tuple[float, float] = (1 / 255, 10 / 255)
    gray_probability: float = 0.4

    def make_params(self, shape, generator):
        seed = _seed(generator)
        return {"sigma": _uniform(generator, *self.sigma), "gray": _chance(generator, self.gray_probability),
                "seed": seed}

    def transform(self, frames, params, first=0):
        return torch.cat([Fd.gaussian_noise(frames[i:i + 1], params["sigma"],
                                            _frame_generator(params["seed"], first + i, frames.device),
                                            params["gray"]) for i in range(frames.shape[0])])


@dataclass
class FilmGrain(Degradation):
    """Silver grain: luma-dependent, spatially correlated, new in every frame."""

    strength: tuple[float, float] = (0.02, 0.08)
    grain_size: tuple[float, float] = (1.0, 2.5)
    color_probability: float = 0.2

    def make_params(self, shape, generator):
        return {"strength": _uniform(generator, *self.strength), "size": _uniform(generator, *self.grain_size),
                "color": _chance(generator, self.color_probability), "seed": _seed(generator)}

    def transform(self, frames, params, first=0):
        return torch.cat([Fd.film_grain(frames[i:i + 1], params["strength"], params["size"],
                                        _frame_generator(params["seed"], first + i, frames.device), params["color"])
                          for i in range(frames.shape[0])])


@dataclass
class Dust(Degradation):
    """Dust and dirt specks that sit on the film for 1 to 3 frames, dark (dirt) or bright (dust on the negative)."""

    per_frame: tuple[float, float] = (0.5, 6.0)  # mean number of new specks per frame
    radius: tuple[float, float] = (0.6, 4.0)  # pixels at the clip's resolution
    bright_probability: float = 0.5

    def make_params(self, shape, generator):
        rate = _uniform(generator, *self.per_frame)
        counts = torch.poisson(torch.full((shape.frames,), rate), generator=generator).long()
        total = int(counts.sum())
        starts = torch.repeat_interleave(torch.arange(shape.frames), counts)
        lifetimes = torch.randint(1, 4, (total,), generator=generator)
        position = torch.rand(total, 2, generator=generator)
        radius = _uniform(generator, *self.radius, count=total) * torch.rand(total, generator=generator).sqrt()
        bright = torch.rand(total, generator=generator) < self.bright_probability
        value = torch.where(bright, 0.85 + 0.15 * torch.rand(total, generator=generator),
                            0.1 * torch.rand(total, generator=generator))
        opacity = 0.6 + 0.4 * torch.rand(total, generator=generator)
        rows = [torch.stack([starts + k, position[:, 0], position[:, 1], radius, value, opacity], dim=1)[lifetimes > k]
                for k in range(3)]
        return {"specks": torch.cat(rows) if total else torch.zeros(0, 6)}

    def transform(self, frames, params, first=0):
        specks = params["specks"]
        window = specks[(specks[:, 0] >= first) & (specks[:, 0] < first + frames.shape[0])].clone()
        window[:, 0] -= first
        return Fd.paint_specks(frames, window)


@dataclass
class LineScratches(Degradation):
    """Vertical scratches along the film, drifting slowly sideways, from one frame (a hair or grit caught in
    the gate for a moment) to the whole clip.

    Real ones are often broken into dashes that change from frame to frame, run over part of the frame's
    height only, and carry the dark (or bright) fringe a scan's sharpening gives a fine line: `broken`,
    `partial` and `halo` are the shares of scratches drawn that way (0 draws nothing for that feature).
    """

    count: tuple[int, int] = (1, 3)
    width: tuple[float, float] = (0.8, 2.5)
    lifetime: tuple[int, int] | None = None  # frames a scratch lasts; None: a third of the clip to all of it
    broken: float = 0.5
    partial: float = 0.4
    halo: float = 0.4

    def make_params(self, shape, generator):
        n = int(torch.randint(self.count[0], self.count[1] + 1, (), generator=generator))
        scratches = []
        for _ in range(n):
            shortest, longest = self.lifetime or (max(1, shape.frames // 3), shape.frames)
            length = int(torch.randint(shortest, min(longest, shape.frames) + 1, (), generator=generator))
            start = int(torch.randint(0, shape.frames - length + 1, (), generator=generator))
            scratch = {
                "start": start, "end": start + length, "position": _uniform(generator, 0.05, 0.95),
                "drift": _uniform(generator, -0.002, 0.002), "width": _uniform(generator, *self.width),
                "value": 0.95 if _chance(generator, 0.6) else 0.08, "opacity": _uniform(generator, 0.4, 0.9),
                "wobble": _uniform(generator, 0.0, 3.0), "phase": _uniform(generator, 0, 6.28),
                "span": (0.0, 1.0), "dashes": None, "halo": 0.0,
            }
            if self.partial > 0 and _chance(generator, self.partial):
                extent = _uniform(generator, 0.2, 0.9)
                top = _uniform(generator, 0.0, 1 - extent)
                scratch["span"] = (top, top + extent)
            if self.broken > 0 and _chance(generator, self.broken):
                # mean lengths (px at this size) of the pieces shown and of the gaps between them
                scratch["dashes"] = (_uniform(generator, 3.0, 40.0), _uniform(generator, 2.0, 30.0), _seed(generator))
            if self.halo > 0 and _chance(generator, self.halo):
                scratch["halo"] = _uniform(generator, 0.2, 0.6)
            scratches.append(scratch)
        return {"scratches": scratches}

    @staticmethod
    def _rows_shown(scratch: dict, height: int, index: int, device: torch.device) -> torch.Tensor | None:
        top, bottom = scratch["span"]
        if scratch["dashes"] is None and (top, bottom) == (0.0, 1.0):
            return None
        shown = torch.zeros(height, device=device)
        shown[int(top * height):max(int(top * height) + 1, int(bottom * height))] = 1
        if scratch["dashes"] is not None:
            dash, gap, seed = scratch["dashes"]
            generator = _frame_generator(seed, index, torch.device("cpu"))
            skip = int(torch.randint(0, int(dash + gap) + 1, (), generator=generator))  # where the pattern starts
            pairs = (height + skip) // 2 + 1
            lengths = (torch.empty(2 * pairs).exponential_(generator=generator)
                       * torch.tensor([dash, gap]).repeat(pairs)).clamp(min=1).round().long()
            on = torch.repeat_interleave(torch.arange(2 * pairs) % 2 == 0, lengths)[skip:skip + height]
            shown *= on.to(device)
        return shown

    def transform(self, frames, params, first=0):
        height = frames.shape[-2]
        out = []
        for i in range(frames.shape[0]):
            frame, index = frames[i:i + 1], first + i
            for s in params["scratches"]:
                if s["start"] <= index < s["end"]:
                    position = min(0.99, max(0.01, s["position"] + s["drift"] * (index - s["start"])))
                    frame = Fd.vertical_scratch(frame, position, s["width"], s["value"], s["opacity"], s["wobble"],
                                                s["phase"] + 0.3 * index,
                                                self._rows_shown(s, height, index, frames.device), s["halo"])
            out.append(frame)
        return torch.cat(out)


@dataclass
class Flicker(Degradation):
    """Brightness pumping: per-frame gain and offset around 1 and 0."""

    amplitude: tuple[float, float] = (0.03, 0.15)

    def make_params(self, shape, generator):
        amplitude = _uniform(generator, *self.amplitude)
        gain = 1 + amplitude * (2 * torch.rand(shape.frames, generator=generator) - 1)
        offset = 0.5 * amplitude * (2 * torch.rand(shape.frames, generator=generator) - 1)
        return {"gain": gain, "offset": offset}

    def transform(self, frames, params, first=0):
        span = slice(first, first + frames.shape[0])
        return Fd.brightness(frames, params["gain"][span], params["offset"][span])


@dataclass
class Vignette(Degradation):
    strength: tuple[float, float] = (0.1, 0.45)

    def make_params(self, shape, generator):
        return {"strength": _uniform(generator, *self.strength), "softness": _uniform(generator, 1.5, 3.0)}

    def transform(self, frames, params, first=0):
        return Fd.vignette(frames, params["strength"], params["softness"])


@dataclass
class GateWeave(Degradation):
    """The film wandering in the gate: small smooth random shifts, different every frame."""

    amplitude: tuple[float, float] = (0.5, 3.0)  # pixels

    def make_params(self, shape, generator):
        amplitude = _uniform(generator, *self.amplitude)
        steps = torch.randn(shape.frames, 2, generator=generator)
        path = torch.cumsum(steps, dim=0) * 0.5
        path = path - torch.linspace(0, 1, shape.frames)[:, None] * path[-1:]  # no long drift: weave, not a pan
        path = path / path.abs().max().clamp_min(1e-6) * amplitude
        return {"shifts": path}

    def transform(self, frames, params, first=0):
        return Fd.translate(frames, params["shifts"][first:first + frames.shape[0]])


@dataclass
class Fading(Degradation):
    """Contrast loss, lifted blacks and a gamma shift: a worn, duped print."""

    contrast: tuple[float, float] = (0.6, 0.95)
    black: tuple[float, float] = (0.0, 0.12)
    gamma: tuple[float, float] = (0.8, 1.25)

    def make_params(self, shape, generator):
        return {"contrast": _uniform(generator, *self.contrast), "black": _uniform(generator, *self.black),
                "gamma": _uniform(generator, *self.gamma)}

    def transform(self, frames, params, first=0):
        return Fd.fade(frames, params["contrast"], params["black"], params["gamma"])


@dataclass
class Monochrome(Degradation):
    """Black and white, plain gray or toned (sepia) with the given probability."""

    sepia_probability: float = 0.3

    def make_params(self, shape, generator):
        if _chance(generator, self.sepia_probability):
            warmth = _uniform(generator, 0.5, 1.0)
            return {"tint": (1 + 0.07 * warmth, 1 - 0.05 * warmth, 1 - 0.22 * warmth)}
        return {"tint": (1.0, 1.0, 1.0)}

    def transform(self, frames, params, first=0):
        return Fd.monochrome(frames, params["tint"])


@dataclass
class JpegCompression(Degradation):
    quality: tuple[int, int] = (40, 95)

    def make_params(self, shape, generator):
        low, high = self.quality
        return {"quality": int(torch.randint(low, high + 1, (), generator=generator))}

    def transform(self, frames, params, first=0):
        return Fd.jpeg(frames, params["quality"])


@dataclass
class H264Compression(Degradation):
    """Video compression of the whole window: blocking and smeared detail that moves with the picture."""

    crf: tuple[int, int] = (20, 36)

    def make_params(self, shape, generator):
        return {"crf": int(torch.randint(self.crf[0], self.crf[1] + 1, (), generator=generator))}

    def transform(self, frames, params, first=0):
        return Fd.h264(frames, params["crf"])


@dataclass
class Quantize(Degradation):
    """Store as 8-bit: clamp and round."""

    def transform(self, frames, params, first=0):
        return Fd.quantize(frames)
