"""What a job will do, as data: the settings of every stage, in order, with what was measured once on the film.

A plan is picklable, so the same stages can be built here or in another process or machine (a Ray worker),
and its fingerprint decides whether an unfinished job may be resumed. Each stage describes itself in its own
module (`stages/settings.py`); `FILM_STAGES` is the one list of them, in the order they run.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .engine.runner import Runners, RunnerSettings
from .errors import OptionError
from .io.reader import Source
from .stages.base import Stage
from .stages.colorize import ColorizeSettings
from .stages.deflicker import DeflickerSettings
from .stages.deinterlace import DeinterlaceSettings
from .stages.duplicates import DropDuplicatesSettings
from .stages.face_restore import FaceRestoreSettings
from .stages.grain import DegrainSettings, RegrainSettings
from .stages.interpolate import InterpolateSettings
from .stages.repair import RepairSettings
from .stages.settings import Film, FilmSample, Option, StageSettings, check_values
from .stages.shots import ShotsSettings
from .stages.stabilize import StabilizeSettings
from .stages.upscale import UpscaleSettings

# The order restorers use: whole frames first (deinterlace), clean, then enlarge, then colour and re-time; grain
# goes back on last.
FILM_STAGES: tuple[type[StageSettings], ...] = (
    DeinterlaceSettings,
    DropDuplicatesSettings,
    ShotsSettings,
    StabilizeSettings,
    DeflickerSettings,
    RepairSettings,
    DegrainSettings,
    UpscaleSettings,
    FaceRestoreSettings,
    ColorizeSettings,
    InterpolateSettings,
    RegrainSettings,
)

# Option values a preset gives where the user gave none.
PRESETS: dict[str, dict[str, Any]] = {
    "film": {"stabilize": True, "deflicker": 1.0, "repair": 1.0, "degrain": 1.0, "regrain": 0.5},
}


def stage_options() -> dict[str, Option]:
    """Every film stage's options by name, in stage order."""
    return {option.name: option for stage in FILM_STAGES for option in stage.options}


def settings_from_options(values: Mapping[str, Any], preset: str | None = None) -> list[StageSettings]:
    """The settings of the stages these option values turn on, in order; a preset fills what was not given. Every
    value is checked against its option first: a bad one is refused with all the others, before any work."""
    check_values(stage_options().values(), values)
    if preset is not None:
        if preset not in PRESETS:
            raise OptionError(f"unknown $preset {preset!r}; choose {' or '.join(PRESETS)}")
        values = {**values, **{name: value for name, value in PRESETS[preset].items()
                               if values.get(name) in (None, False)}}
    return [settings for stage in FILM_STAGES if (settings := stage.from_options(values)) is not None]


@dataclass(frozen=True)
class StagePlan:
    film: Film
    stages: tuple[StageSettings, ...]  # in FILM_STAGES order, completed with what was measured on the film
    asked_size: tuple[int, int] | None = None  # the enlargement asked for, before rounding to even numbers

    def get(self, kind: type[StageSettings]) -> StageSettings | None:
        return next((settings for settings in self.stages if isinstance(settings, kind)), None)

    def files(self) -> list[Path]:
        """Model and reference files the result depends on, by content."""
        return [path for settings in self.stages for path in settings.files(self.film)]

    def settings(self) -> dict:
        """The plan's settings as JSON-able data, for the job's fingerprint (the device does not change it)."""
        runner = {key: value for key, value in vars(self.film.runner).items() if key != "device"}
        return {"size": self.film.size, "out_size": self.film.out_size, "runner": runner,
                "stages": [[type(settings).__name__, settings.fingerprint()] for settings in self.stages]}


def _in_order(settings: Iterable[StageSettings]) -> tuple[StageSettings, ...]:
    ordered = sorted(settings, key=lambda s: FILM_STAGES.index(type(s)))
    kinds = [type(s) for s in ordered]
    if len(set(kinds)) < len(kinds):
        raise ValueError(f"each stage once, got {[kind.__name__ for kind in kinds]}")
    return tuple(ordered)


def plan_stages(source: Source, settings: Iterable[StageSettings], runner: RunnerSettings, even: bool,
                runners: Runners | None = None) -> StagePlan:
    """Measure what the stages need from the whole film (once), and fix every setting; `even`: the output's
    frame size must be even (most video codecs). `runners`: networks already loaded for this job."""
    info = source.info
    size = (info.width, info.height)
    stages = _in_order(settings)
    upscale = next((s for s in stages if isinstance(s, UpscaleSettings)), None)
    out_size, asked_size = (upscale.wants_upscale(size, even) if upscale is not None else None) or (None, None)
    film = Film(size, out_size, info.time_base, runner, info.fps)
    sample, runners = FilmSample(source), runners or Runners(runner)
    measured = [s.measure(film, sample, runners) for s in stages]
    if not any(isinstance(s, ShotsSettings) for s in measured) and any(s.needs_shots(film, runners) for s in measured):
        measured.append(ShotsSettings())  # one shot finder for every stage that reads shots
    return StagePlan(film, _in_order(measured), asked_size)


def build_stages(plan: StagePlan, runners: Runners | None = None) -> list[Stage]:
    """The stages of a plan, in order, each network loaded once (`runners`: the job's, where it has some)."""
    runners = runners or Runners(plan.film.runner)
    return [stage for settings in plan.stages for stage in settings.build(plan.film, runners)]
