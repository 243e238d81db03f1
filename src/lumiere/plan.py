"""What a job will do, as data: the settings of every stage and what was measured once on the whole film.

A plan is picklable, so the same stages can be built here or in another process or machine (a Ray worker),
and its fingerprint decides whether an unfinished job may be resumed.
"""

from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

import torch

from .convert import array_to_tensor
from .engine.runner import ModelRunner, RunnerSettings
from .errors import InputError
from .io.reader import Source
from .models.loader import interpolate_models, load_model, resolve_model_path
from .stages.base import Stage
from .stages.colorize import Colorizer, ColorizeSettings, ColorizeStage, Located, References, work_lightness, work_size
from .stages.deflicker import DeflickerSettings, DeflickerStage
from .stages.duplicates import DropDuplicatesStage
from .stages.grain import DegrainSettings, DegrainStage, RegrainStage, grain_level
from .stages.interpolate import InterpolateStage
from .stages.repair import RepairSettings, RepairStage, repair_runner_settings
from .stages.stabilize import StabilizeSettings, StabilizeStage
from .stages.upscale import (
    DETECTOR,
    UpscalerChoice,
    UpscaleStage,
    choose_upscaler,
    detail_share,
    measure_input_kind,
    target_size,
)

CLEANER = "film-clean"


@dataclass(frozen=True)
class UpscaleOptions:
    scale: float | None = None
    height: int | None = None
    to: str | None = None
    model: str | None = None  # wins over the choice below
    look: str = "faithful"  # or "detailed"
    strength: float | None = None  # texture from faithful (0) to detailed (1); None: the look's own
    kind: str | None = None  # the input is "film" or "clean"; None: measured on the input
    quality: str = "standard"  # or "high": the RRDB-size film network, for GPUs

    def wants_upscale(self, size: tuple[int, int], even: bool) -> tuple[int, int] | None:
        out = target_size(*size, scale=self.scale, target_height=self.height, fit=self.to, even=even)
        return None if out == size else out


class Runners:
    """Every network of a job, each loaded once and run with the job's runner settings."""

    def __init__(self, settings: RunnerSettings):
        self.settings = settings
        self._runners: dict[str, ModelRunner] = {}

    def get(self, name: str, roles: tuple[str, ...], settings: RunnerSettings | None = None) -> ModelRunner:
        return self._cached(name, lambda: load_model(name, roles), settings)

    def upscaler(self, choice: UpscalerChoice) -> ModelRunner:
        roles = ("upscale", "restore")
        if choice.towards is None:
            return self.get(choice.name, roles)
        return self._cached(str(choice), lambda: interpolate_models(load_model(choice.name, roles),
                                                                    load_model(choice.towards, roles), choice.share))

    def _cached(self, key: str, load, settings: RunnerSettings | None = None) -> ModelRunner:
        if key not in self._runners:
            self._runners[key] = ModelRunner(load(), settings or self.settings)
        return self._runners[key]


def repair_stage(settings: RepairSettings, runners: Runners) -> RepairStage:
    return RepairStage(settings, runners.get(settings.model, ("repair",), repair_runner_settings(runners.settings)))


def colorizer(settings: ColorizeSettings, runners: Runners) -> Colorizer:
    return Colorizer(settings, runners.get(settings.model, ("colorize",)))


class UpscalerFactory:
    """Builds upscale stages for any input size."""

    def __init__(self, options: UpscaleOptions, runners: Runners):
        self.options = options
        self.runners = runners

    @property
    def needs_input_kind(self) -> bool:
        """Whether the choice depends on what the input looks like, and the options leave that to measurement."""
        options = self.options
        return (options.model is None and options.kind is None and options.quality == "standard"
                and detail_share(options.look, options.strength) == 0)

    def measure(self, picture: torch.Tensor) -> tuple[str, float]:
        """What the input is ("film" or "clean") and the probability of film damage, by the shipped detector."""
        return measure_input_kind(self.runners.get(DETECTOR, ("detect",)), picture)

    def choice(self, size: tuple[int, int], out_size: tuple[int, int], kind: str | None = None) -> UpscalerChoice:
        """The network for this enlargement; `kind` is the input's, where the options leave it to measurement."""
        options = self.options
        if options.model is not None:
            if options.strength is not None or options.look != "faithful" or options.quality != "standard":
                raise InputError("--look, --strength and --quality choose among lumiere's own networks; --model "
                                 "names one")
            return UpscalerChoice(options.model)
        factor = max(out_size[0] / size[0], out_size[1] / size[1])
        return choose_upscaler(factor, options.look, options.strength, options.kind or kind or "film",
                               options.quality)

    def stage(self, size: tuple[int, int], out_size: tuple[int, int], kind: str | None = None) -> UpscaleStage:
        runner = self.runners.upscaler(self.choice(size, out_size, kind))
        descriptor = runner.descriptor
        if descriptor.input_channels != 3 or descriptor.output_channels != 3:
            raise InputError(f"model {descriptor.name} maps {descriptor.input_channels} to "
                             f"{descriptor.output_channels} channels; lumiere upscales RGB")
        return UpscaleStage(runner, size, out_size)


@dataclass(frozen=True)
class FilmOptions:
    """The film-repair stages to run, in the order restorers use: clean first, then enlarge, then re-time."""

    drop_duplicates: bool = False  # telecine and doubled frames
    stabilize: StabilizeSettings | None = None
    deflicker: DeflickerSettings | None = None
    repair: RepairSettings | None = None
    degrain: DegrainSettings | None = None  # followed by the film-clean network
    fps: Fraction | None = None  # re-time by motion-compensated interpolation
    regrain: float | None = None  # grain put back, as a share of the source's own


@dataclass(frozen=True)
class StagePlan:
    size: tuple[int, int]  # the film's frames
    out_size: tuple[int, int] | None  # enlarged to this, or not at all
    upscale: UpscaleOptions
    runner: RunnerSettings  # how every network runs: device, precision, tiling
    film: FilmOptions
    colorize: ColorizeSettings | None
    located: Located | None  # colorize references found in the film
    grain: float  # absolute regrain strength (standard deviation)
    time_base: Fraction  # of the film's timestamps
    chunk_frames: int

    def files(self) -> list[Path]:
        """Model and reference files the result depends on, by content."""
        files = []
        if self.film.repair is not None:
            files.append(resolve_model_path(self.film.repair.model)[1])
        if self.film.degrain is not None:
            files.append(resolve_model_path(CLEANER)[1])
        if self.out_size is not None:
            choice = UpscalerFactory(self.upscale, Runners(self.runner)).choice(self.size, self.out_size)
            files += [resolve_model_path(name)[1] for name in choice.names]
        if self.colorize is not None:
            files += [resolve_model_path(self.colorize.model)[1], *self.colorize.references]
        return files

    def settings(self) -> dict:
        """The plan's settings as JSON-able data, for the job's fingerprint."""
        colorize = None
        if self.colorize is not None:
            colorize = {k: v for k, v in asdict(self.colorize).items() if k != "references"}
        runner = {k: v for k, v in asdict(self.runner).items() if k != "device"}
        return {"size": self.size, "out_size": self.out_size, "upscale": asdict(self.upscale), "runner": runner,
                "film": asdict(self.film), "colorize": colorize, "grain": self.grain}


def _measured_frame(source: Source) -> torch.Tensor:
    """The frame measurements of the whole film are taken on: the 25th (or last, if shorter), (3, H, W)."""
    wanted = min(24, source.info.frame_count - 1)
    frame = next(frame for frame in source.frames(wanted) if frame.index == wanted)
    return array_to_tensor(frame.rgb)


def plan_stages(source: Source, upscale: UpscaleOptions, runner: RunnerSettings, film: FilmOptions,
                colorize: ColorizeSettings | None, chunk_frames: int, even: bool) -> StagePlan:
    """Measure what the stages need from the whole film (once), and fix every setting."""
    info = source.info
    size = (info.width, info.height)
    located = None
    if colorize is not None and colorize.references:
        references = References(colorizer(colorize, Runners(runner)), colorize.references)
        work = work_size(info.width, info.height, colorize.render_size)
        located = references.locate((frame.index, work_lightness(frame.rgb, work)) for frame in source.frames())
    out_size = upscale.wants_upscale(size, even)
    factory = UpscalerFactory(upscale, Runners(runner))
    measure_kind = out_size is not None and factory.needs_input_kind
    frame = _measured_frame(source) if film.regrain is not None or measure_kind else None
    grain = film.regrain * min(0.2, grain_level(frame)) if film.regrain is not None else 0.0
    if measure_kind:
        upscale = replace(upscale, kind=factory.measure(frame[None])[0])
    return StagePlan(size, out_size, upscale, runner, film, colorize, located, grain, info.time_base, chunk_frames)


def build_stages(plan: StagePlan) -> list[Stage]:
    """The stages of a plan, in order: drop duplicates, stabilize, deflicker, repair, degrain (+ film-clean),
    upscale, colorize, interpolate, regrain."""
    film, stages = plan.film, []
    runners = Runners(plan.runner)
    if film.drop_duplicates:
        stages.append(DropDuplicatesStage())
    if film.stabilize is not None:
        stages.append(StabilizeStage(film.stabilize))
    if film.deflicker is not None:
        stages.append(DeflickerStage(film.deflicker))
    if film.repair is not None:
        stages.append(repair_stage(film.repair, runners))
    if film.degrain is not None:
        stages.append(DegrainStage(film.degrain))
        stages.append(UpscaleStage(runners.get(CLEANER, ("restore",)), plan.size, plan.size))
    if plan.out_size is not None:
        stages.append(UpscalerFactory(plan.upscale, runners).stage(plan.size, plan.out_size))
    if plan.colorize is not None:
        colours = colorizer(plan.colorize, runners)
        references = (References(colours, plan.colorize.references, plan.located) if plan.colorize.references
                      else None)
        stages.append(ColorizeStage(colours, plan.chunk_frames, references))
    if film.fps is not None:
        stages.append(InterpolateStage(film.fps, plan.time_base))
    if film.regrain is not None:
        enlargement = plan.out_size[1] / plan.size[1] if plan.out_size else 1.0
        stages.append(RegrainStage(plan.grain, grain_size=enlargement))
    return stages
