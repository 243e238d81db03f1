"""Upscaling: the network, applied as many times as fits the factor, then an exact resize. A film's frames in the
faithful look go through a multi-frame network instead, once, each frame with its neighbours (`VideoUpscaleStage`),
or through a recurrent one that enlarges a shot's frames together (`SequenceUpscaleStage`)."""

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch

from .._checks import check_image_batch
from ..degradations.functional import resize
from ..engine.aligned_neighbours import WindowMemo, window_input
from ..engine.runner import ModelRunner, Runners
from ..errors import InputError, LumiereError, OptionError
from ..models.damagenet import SIZE_MULTIPLE as DAMAGE_SIZE_MULTIPLE
from ..models.damagenet import film_probability
from ..models.loader import model_scale, resolve_model_path
from ..models.multiframe import neighbours_of
from ..models.shipped import (
    DETAILED_SEQUENCE_UPSCALER,
    DETAILED_UPSCALERS,
    FAITHFUL_UPSCALERS,
    QUALITY_UPSCALERS,
    SEQUENCE_UPSCALERS,
    VIDEO_UPSCALERS,
)
from ..ops import remove_lattice
from .base import NO_SEGMENTS, FrameStage, Item, Stage, WindowStage
from .settings import Option, StageSettings, option_value

MAX_FACTOR = 8.0
# Where no size is asked for: a film x2 (a 640x480 scan to 1280x960 stays quick on a CPU), a still x4 (as
# Real-ESRGAN's tools do); a named model, its own scale.
FILM_SCALE = 2.0
IMAGE_SCALE = 4.0
MAX_SIDE = 16384
RESOLUTION_PRESETS = {"720p": (1280, 720), "1080p": (1920, 1080), "2k": (2560, 1440), "4k": (3840, 2160),
                      "8k": (7680, 4320)}


def target_size(width: int, height: int, *, scale: float | None = None, target_height: int | None = None,
                fit: str | None = None) -> tuple[int, int]:
    """Output (width, height) for one of a scale, a height or a frame to fit; the aspect ratio is kept."""
    given = [name for name, value in (("$scale", scale), ("$height", target_height), ("$to", fit))
             if value is not None]
    if len(given) > 1:
        raise OptionError(f"give only one of {', '.join(given)}")
    if scale is not None:
        factor = scale
    elif target_height is not None:
        if target_height < height:
            raise OptionError(f"$height {target_height} is below the input's {height}; lumiere does not shrink")
        factor = target_height / height
    elif fit is not None:
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
    if max(out_w, out_h) > MAX_SIDE:
        raise LumiereError(f"output would be {out_w}x{out_h}; the largest side lumiere writes is {MAX_SIDE}")
    return out_w, out_h


LOOKS = ("faithful", "detailed")
DETECTOR = "film-detect"
DETECTED_SIDE = 1024  # the detector looks at the centre of larger pictures: damage is everywhere on a film
INPUT_KINDS = ("film", "clean")
QUALITIES = ("fast", "standard", "high")
# --look detailed: film-x4-detailed blended this far from film-x4. Alone (strength 1) it draws a fine dotted
# texture on flat walls and scores 0.6 dB below bicubic on film-degraded Set14; at 0.7 the dots fade, edges stay
# crisp and the score stays above bicubic's (docs/weights.md).
DETAILED_LOOK_STRENGTH = 0.7


@dataclass(frozen=True)
class UpscalerChoice:
    """The network that enlarges: `name`'s weights, moved `share` of the way towards `towards`'s."""

    name: str
    towards: str | None = None
    share: float = 0.0

    @property
    def names(self) -> list[str]:
        return [self.name] if self.towards is None else [self.name, self.towards]

    @property
    def lattice_period(self) -> int:
        """The period of the dotted lattice its output is cleaned of (0: none). The detailed networks end in
        pixel shuffles from features at the input's size, and the texture they draw carries the shuffles' period
        as a visible lattice; the faithful ones carry it too faintly to see (docs/benchmarks.md)."""
        detailed = {name: scale for scale, name in DETAILED_UPSCALERS.items()} | {DETAILED_SEQUENCE_UPSCALER: 4}
        return detailed.get(self.towards if self.share else self.name, 0)

    def __str__(self) -> str:
        if self.towards is None:
            return self.name
        return f"{self.name} and {self.towards} blended {1 - self.share:.2f}:{self.share:.2f}"


# A film's frame is called clean only where the detector is sure: scans of real old film read as fairly clean
# pictures (street-scene's frames 0.36-0.44, the a-bomb footage's 0.28-0.51), a clean transfer well below them
# (calendar shrunk by bicubic: 0.15), and a damaged film sent to the clean network would keep its grain.
FILM_CLEAN_BELOW = 0.2


def measure_input_kind(detector: ModelRunner, picture: torch.Tensor, clean_below: float = 0.5) -> tuple[str, float]:
    """("film" or "clean", the probability of film damage) for a picture (1, 3, H, W) in [0, 1]: clean where that
    probability is below `clean_below`."""
    check_image_batch(picture, channels=3)
    height, width = (min(side, DETECTED_SIDE) // DAMAGE_SIZE_MULTIPLE * DAMAGE_SIZE_MULTIPLE
                     for side in picture.shape[-2:])
    if not height or not width:
        return "film", 1.0
    top, left = (picture.shape[-2] - height) // 2, (picture.shape[-1] - width) // 2
    logits = detector.run(lambda network, x: network(x), picture[..., top:top + height, left:left + width])
    probability = float(film_probability(logits)[0])
    return ("clean" if probability < clean_below else "film"), probability


def detail_share(look: str, strength: float | None) -> float:
    """How far towards the detailed network: `strength` where given, else the look's own."""
    return strength if strength is not None else (DETAILED_LOOK_STRENGTH if look == "detailed" else 0.0)


def choose_upscaler(factor: float, look: str = "faithful", strength: float | None = None, kind: str = "film",
                    quality: str = "standard", video: bool = False) -> UpscalerChoice:
    """lumiere's own upscaler for an enlargement `factor`, a look, the kind of input it was measured to be, and
    the quality asked for; `video`: the frames of a film, where the faithful look sees each frame's neighbours
    (clean films, and damaged ones at quality high: every frame of the shot, through the recurrent network).

    `strength` (0..1) dials texture from the faithful network (0) to the detailed one (1) by network
    interpolation; without it the look decides (detailed: DETAILED_LOOK_STRENGTH). The input's kind matters to
    the faithful look alone: a clean picture gets the network trained on clean pictures, which keeps its fine
    detail. `quality` "high" is the RRDB-size faithful network (for a film's frames the recurrent one, which has a
    detailed look too), "fast" the narrowed one, for film, at any factor.
    """
    if kind not in INPUT_KINDS:
        raise ValueError(f"expected an input kind of {INPUT_KINDS}, got {kind!r}")
    share = detail_share(look, strength)
    if video and share == 0 and (kind, quality) in SEQUENCE_UPSCALERS:
        return UpscalerChoice(SEQUENCE_UPSCALERS[(kind, quality)])
    if video and share and quality == "high":
        if share == 1:
            return UpscalerChoice(DETAILED_SEQUENCE_UPSCALER)
        return UpscalerChoice(SEQUENCE_UPSCALERS[("film", "high")], DETAILED_SEQUENCE_UPSCALER, share)
    if quality in QUALITY_UPSCALERS:
        if share:
            where = " on stills (a film's frames have the detailed look too)" if quality == "high" else ""
            raise OptionError(f"$quality {quality} has the faithful look only{where}; leave out $look detailed "
                              "and $strength")
        return UpscalerChoice(QUALITY_UPSCALERS[quality])
    if share == 0:
        scale = 2 if factor <= 2 else 4
        if video and kind == "film" and scale in VIDEO_UPSCALERS:
            return UpscalerChoice(VIDEO_UPSCALERS[scale])
        return UpscalerChoice(FAITHFUL_UPSCALERS[(kind, scale)])
    scale = 2 if factor <= 2 and 2 in DETAILED_UPSCALERS else 4
    if share == 1:
        return UpscalerChoice(DETAILED_UPSCALERS[scale])
    return UpscalerChoice(FAITHFUL_UPSCALERS[("film", scale)], DETAILED_UPSCALERS[scale], share)


def network_passes(factor: float, model_scale: int) -> int:
    """How often to run the network: as often as its scale fits into the factor, at least once."""
    if model_scale == 1:
        return 1
    return max(1, math.floor(math.log(factor) / math.log(model_scale) + 1e-6))


class UpscaleStage(FrameStage):
    name = "upscale"

    def __init__(self, runner: ModelRunner, input_size: tuple[int, int], output_size: tuple[int, int],
                 lattice_period: int = 0):
        self.runner = runner
        self.input_size = input_size
        self.target = output_size
        self.lattice_period = lattice_period
        factor = max(output_size[0] / input_size[0], output_size[1] / input_size[1])
        self.passes = network_passes(factor, runner.descriptor.scale)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        if (width, height) != self.input_size:
            raise ValueError(f"stage was planned for {self.input_size}, got {(width, height)}")
        return self.target

    def process(self, frames: torch.Tensor) -> torch.Tensor:
        check_image_batch(frames, channels=3)
        for _ in range(self.passes):
            frames = self.runner(frames)
            if self.lattice_period:
                frames = remove_lattice(frames, self.lattice_period)
            frames = frames.clamp(0, 1)
        out_w, out_h = self.target
        if frames.shape[-1] != out_w or frames.shape[-2] != out_h:
            frames = resize(frames, (out_h, out_w), "bicubic").clamp(0, 1)
        return frames


class VideoUpscaleStage(WindowStage):
    """Enlarges each frame of a film with a multi-frame network from the frame and its neighbours of the same
    shot, laid onto it along optical flow; then an exact resize to the planned size."""

    name = "upscale"

    def __init__(self, runner: ModelRunner, input_size: tuple[int, int], output_size: tuple[int, int]):
        if runner.descriptor.role != "video":
            raise ValueError(f"expected a multi-frame video upscaler, got {runner.descriptor.name} "
                             f"({runner.descriptor.architecture})")
        self.runner = runner
        self.input_size = input_size
        self.target = output_size
        self.neighbours = neighbours_of(runner.descriptor.input_channels)
        self.before = self.after = self.neighbours
        factor = max(output_size[0] / input_size[0], output_size[1] / input_size[1])
        if network_passes(factor, runner.descriptor.scale) > 1:
            raise OptionError(f"model {runner.descriptor.name} enlarges x{runner.descriptor.scale} once, and this "
                              f"asks for x{factor:g}; give a multi-frame model of a larger scale")

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        if (width, height) != self.input_size:
            raise ValueError(f"stage was planned for {self.input_size}, got {(width, height)}")
        return self.target

    def start(self) -> WindowMemo:
        return WindowMemo()

    @torch.inference_mode()
    def process_window(self, window, center, indices, memo, starts):
        x = window_input(window, center, indices, self.neighbours, memo, starts)
        frame = self.runner(x[None]).clamp(0, 1)
        out_w, out_h = self.target
        if frame.shape[-1] != out_w or frame.shape[-2] != out_h:
            frame = resize(frame, (out_h, out_w), "bicubic").clamp(0, 1)
        return frame[0].to(window[center])


# The recurrent network sees a shot in windows of this many frames (aligned to the film's frame numbers, so a
# resumed job cuts the same windows), with OVERLAP frames of the shot on each side feeding the propagation; a
# window's frames are held at the input's size with the network's features for each (about 0.5 KB a pixel).
SEQUENCE_WINDOW = 15
SEQUENCE_OVERLAP = 5


def sequence_window(index: int, window: int, overlap: int) -> tuple[range, range]:
    """(the frames whose outputs come from frame `index`'s window, the frames that window reads), by number."""
    start = index // window * window
    return range(start, start + window), range(max(0, start - overlap), start + window + overlap)


class SequenceUpscaleStage(Stage):
    """Enlarges a film with a recurrent network (BasicVSR) that carries what each frame shows to every other
    frame of its shot: the film is cut into windows at fixed frame numbers, each read with some frames of overlap
    on each side and split where the shot changes, and every frame of a window comes out of one pass."""

    name = "upscale"

    def __init__(self, runner: ModelRunner, input_size: tuple[int, int], output_size: tuple[int, int],
                 lattice_period: int = 0, window: int = SEQUENCE_WINDOW, overlap: int = SEQUENCE_OVERLAP):
        if not runner.descriptor.sequence:
            raise ValueError(f"expected a recurrent video upscaler, got {runner.descriptor.name} "
                             f"({runner.descriptor.architecture})")
        if window < 1 or overlap < 0:
            raise ValueError(f"expected a window of at least 1 frame and an overlap of at least 0, got {window}, "
                             f"{overlap}")
        self.runner, self.input_size, self.target = runner, input_size, output_size
        self.lattice_period = lattice_period
        self.window, self.overlap = window, overlap
        # the first frame of a window depends on frames up to a window and an overlap after it, the last on as
        # many before it
        self.context_frames = self.lookahead = window - 1 + overlap
        self.frames_at_once = window
        factor = max(output_size[0] / input_size[0], output_size[1] / input_size[1])
        if network_passes(factor, runner.descriptor.scale) > 1:
            raise OptionError(f"model {runner.descriptor.name} enlarges x{runner.descriptor.scale} once, and this "
                              f"asks for x{factor:g}")

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        if (width, height) != self.input_size:
            raise ValueError(f"stage was planned for {self.input_size}, got {(width, height)}")
        return self.target

    def stream(self, items, batch=1, segments=NO_SEGMENTS):
        held: dict[int, Item] = {}
        first = newest = -1
        next_out = 0  # frames below it are put out (or were never asked for)

        def windows(finished: bool) -> Iterator[Item]:
            """The frames of each window whose frames have all arrived (all that are left, when `finished`)."""
            nonlocal next_out
            while pending := [k for k in held if k >= next_out]:
                outputs, reads = sequence_window(min(pending), self.window, self.overlap)
                if not finished and newest < reads[-1]:
                    return
                # a window that starts before the stream did lacks its first frames: in a job it is context no
                # later stage needs (its frames lie before the context the stages after this one asked for)
                if not (segments and reads[0] < first):
                    yield from self._enlarge(held, outputs, reads)
                next_out = outputs[-1] + 1
                for k in [k for k in held if k < next_out - self.overlap]:
                    del held[k]

        for item in items:
            index = item[0].index
            if index <= newest:
                raise ValueError(f"{self.name}: frames must arrive in order, got {newest} then {index}")
            first = index if first < 0 else first
            newest = index
            held[index] = item
            yield from windows(finished=False)
        yield from windows(finished=True)

    def _enlarge(self, held: dict[int, Item], outputs: range, reads: range) -> Iterator[Item]:
        """The frames of `outputs` held, enlarged from the held frames of `reads` of their own shot."""
        indices = sorted(k for k in held if k in reads)
        shots, shot = [], [indices[0]]
        for later in indices[1:]:
            if held[later][0].shot_start:
                shots.append(shot)
                shot = []
            shot.append(later)
        shots.append(shot)
        for shot in shots:
            wanted = [k for k in shot if k in outputs]
            if not wanted:
                continue
            frames = torch.stack([held[k][1] for k in shot])
            enlarged = self.runner(frames)
            if self.lattice_period:
                enlarged = remove_lattice(enlarged, self.lattice_period)
            enlarged = enlarged.clamp(0, 1)
            out_w, out_h = self.target
            for k in wanted:
                frame = enlarged[shot.index(k)][None]
                if frame.shape[-1] != out_w or frame.shape[-2] != out_h:
                    frame = resize(frame, (out_h, out_w), "bicubic").clamp(0, 1)
                yield held[k][0], frame[0].to(held[k][1])


@dataclass(frozen=True)
class UpscaleSettings(StageSettings):
    """How far to enlarge (one of `scale`, `height`, `to`; none: not at all) and with which network."""

    scale: float | None = None
    height: int | None = None
    to: str | None = None
    model: str | None = None  # wins over the choice below
    look: str = "faithful"  # or "detailed"
    strength: float | None = None  # texture from faithful (0) to detailed (1); None: the look's own
    kind: str | None = None  # the input is "film" or "clean"; None: measured on the input
    quality: str = "standard"  # "high": the costliest networks, for GPUs; "fast": a narrower one, for CPUs
    measured_kind: str | None = None  # what `measure` found the film to be, where that chose the network
    chosen: UpscalerChoice | None = None  # the network, fixed by `measure` for the film's sizes

    options = (
        Option("scale", "Enlargement factor, 1 to 8 (fractions too: 2.5). 1 upscales nothing.",
               bounds=(1, MAX_FACTOR)),
        Option("height", "Output height in pixels; the width follows the aspect ratio.", kind=int, bounds=(1, None)),
        Option("to", "Fit inside this frame (4k: 3840x2160), aspect ratio kept.", kind=str,
               choices=tuple(RESOLUTION_PRESETS)),
        Option("look", "faithful: nothing invented, what an archive wants; detailed: natural texture and crisp "
                       "edges drawn in by a network trained to (default: faithful).", kind=str, choices=LOOKS),
        Option("strength", "Texture from 0 (the faithful network) to 1 (the detailed one), blended in between.",
               bounds=(0, 1)),
        Option("quality", "high: for films, the recurrent BasicVSR fine-tuned on film damage (every frame of a "
                          "shot; about 15x slower than standard; $look detailed: its adversarial fine-tune), for "
                          "stills an RRDB-size film network (16.7M parameters, about 25x slower; faithful look "
                          "only); for GPUs. fast: film-x4 narrowed (faithful look, one frame at a time), for slow "
                          "CPUs: about 1.5x as fast, a little softer.", kind=str, default="standard",
               choices=QUALITIES),
        Option("model", "Shipped model name (see `lumiere models`) or a .pth/.safetensors file; wins over $look "
                        "and the choice lumiere makes from the input.", kind=str),
    )

    @classmethod
    def from_options(cls, values):
        given = {option.name: option_value(cls, values, option.name) for option in cls.options}
        return cls(**{**given, "look": given["look"] or "faithful"}, kind=values.get("kind"))

    @property
    def sized(self) -> bool:
        """Whether a size was asked for (a scale, a height or a frame to fit)."""
        return not (self.scale is None and self.height is None and self.to is None)

    def or_scale(self, scale: float) -> "UpscaleSettings":
        """These settings, enlarging by `scale` where they ask for no size and name no model (a model's own
        scale is its default)."""
        return self if self.sized or self.model is not None else replace(self, scale=scale)

    def wants_upscale(self, size: tuple[int, int], even: bool) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The output size and the size asked for (they differ where `even` rounds it up to even numbers), or
        None where the stage has nothing to do: no enlargement and no 1x model to run."""
        scale = self.scale
        if not self.sized and self.model is not None:
            scale = float(model_scale(self.model))
        exact = target_size(*size, scale=scale, target_height=self.height, fit=self.to)
        out = (exact[0] + exact[0] % 2, exact[1] + exact[1] % 2) if even else exact
        if out != size:
            return out, exact
        if self.model is None:
            return None
        factor = model_scale(self.model)
        if factor != 1:
            raise OptionError(f"model {self.model} enlarges x{factor}, and this asks for no enlargement; give "
                              f"$scale {factor} (or leave it out), or a 1x model")
        return out, exact

    @property
    def needs_input_kind(self) -> bool:
        """Whether the network depends on what the input looks like, and the settings leave that to measurement."""
        return (self.model is None and self.kind is None and self.quality != "fast"
                and detail_share(self.look, self.strength) == 0)

    def choice(self, size: tuple[int, int], out_size: tuple[int, int], kind: str | None = None,
               video: bool = False) -> UpscalerChoice:
        """The network for this enlargement; `kind` is the input's, where the settings leave it to measurement;
        `video`: for the frames of a film rather than a still."""
        if self.model is not None:
            if self.strength is not None or self.look != "faithful" or self.quality != "standard":
                raise OptionError("$look, $strength and $quality choose among lumiere's own networks; $model "
                                  "names one")
            return UpscalerChoice(self.model)
        factor = max(out_size[0] / size[0], out_size[1] / size[1])
        return choose_upscaler(factor, self.look, self.strength, self.kind or kind or "film", self.quality, video)

    def measure(self, film, sample, runners):
        """The network chosen once for the film, from what its sample frame looks like where that decides."""
        if film.out_size is None:
            return self
        kind = input_kind(sample.frame()[None], runners, FILM_CLEAN_BELOW)[0] if self.needs_input_kind else None
        return replace(self, measured_kind=kind, chosen=self.choice(film.size, film.out_size, kind, video=True))

    def needs_shots(self, film, runners):
        """A film enlarged by a network that reads its neighbours (the usual case) must keep to the frame's shot."""
        return self.chosen is not None and upscaler(self.chosen, runners).descriptor.role == "video"

    def build(self, film, runners):
        return [] if self.chosen is None else [upscale_stage(self.chosen, runners, film.size, film.out_size)]

    def files(self, film):
        return [] if self.chosen is None else [resolve_model_path(name)[1] for name in self.chosen.names]


def input_kind(picture: torch.Tensor, runners: Runners, clean_below: float = 0.5) -> tuple[str, float]:
    """What a picture (1, 3, H, W) is, "film" or "clean", and the probability of film damage, by the shipped
    detector (clean below `clean_below`: FILM_CLEAN_BELOW for a film's frame)."""
    return measure_input_kind(runners.get(DETECTOR, ("detect",)), picture, clean_below)


def upscaler(choice: UpscalerChoice, runners: Runners) -> ModelRunner:
    roles = ("upscale", "restore", "video")
    if choice.towards is None:
        return runners.get(choice.name, roles)
    return runners.blended(choice.name, choice.towards, choice.share, roles)


def upscale_stage(choice: UpscalerChoice, runners: Runners, size: tuple[int, int],
                  out_size: tuple[int, int]) -> UpscaleStage | VideoUpscaleStage | SequenceUpscaleStage:
    runner = upscaler(choice, runners)
    descriptor = runner.descriptor
    if descriptor.sequence:
        return SequenceUpscaleStage(runner, size, out_size, choice.lattice_period)
    if descriptor.role == "video":
        return VideoUpscaleStage(runner, size, out_size)
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise InputError(f"model {descriptor.name} maps {descriptor.input_channels} to "
                         f"{descriptor.output_channels} channels; lumiere upscales RGB")
    return UpscaleStage(runner, size, out_size, choice.lattice_period)
