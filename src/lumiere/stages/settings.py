"""What a film stage is, as data: its settings, the options a user sets them by, and how the stage is built.

Every stage of a film job has one frozen settings class here in its own module, and `plan.FILM_STAGES` lists
them in the order they run. A front end (the CLI, the Python API, a web form) reads each class's `options` to
know what to ask; `from_options` turns the answers into settings, or None where the stage is off. The plan then
lets each settings measure what it needs from the whole film (`measure`, once), builds the stages (`build`, in
this process or on a Ray worker) and fingerprints the job by each settings' `fingerprint()` and `files()`.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..engine.runner import Runners, RunnerSettings
from ..errors import OptionError
from ..io.reader import Source
from ..ops import array_to_tensor
from .base import Stage

MAX_RATE = 1000


@dataclass(frozen=True)
class Option:
    """One thing a user can set. `name` is the Python keyword and the web form's field; the CLI spells it
    --name, with dashes."""

    name: str
    help: str
    kind: type = float  # float, int, str, bool (a switch: on when given), Path
    default: Any = None
    choices: tuple[str, ...] = ()
    bounds: tuple[float, float | None] | None = None  # inclusive; None above: no upper bound
    bare: Any = None  # the value when the option is given without one (`--deflicker` alone: 1.0)
    many: bool = False  # may be given several times: a tuple of values
    metavar: str | None = None
    field: str | None = None  # the settings' field it sets, where that is not `name`


@dataclass(frozen=True)
class Film:
    """What every stage of a job is planned for: the film's frame size, time base and frame rate, the size it is
    enlarged to (None: not enlarged), and how the job's networks run."""

    size: tuple[int, int]
    out_size: tuple[int, int] | None
    time_base: Fraction
    runner: RunnerSettings
    fps: Fraction = Fraction(24)

    @property
    def enlargement(self) -> float:
        return self.out_size[1] / self.size[1] if self.out_size else 1.0


class FilmSample:
    """The frame of a film that whole-film measurements are taken on, decoded once whoever asks first: the 25th
    (or the last, if shorter)."""

    def __init__(self, source: Source):
        self.source = source
        self._frame: torch.Tensor | None = None

    def frame(self) -> torch.Tensor:
        """(3, H, W) float."""
        if self._frame is None:
            wanted = min(24, self.source.info.frame_count - 1)
            frame = next(frame for frame in self.source.frames(wanted) if frame.index == wanted)
            self._frame = array_to_tensor(frame.rgb)
        return self._frame


class StageSettings(ABC):
    """The settings of one film stage (a frozen dataclass), and everything the plan needs to know of it."""

    options: ClassVar[tuple[Option, ...]] = ()
    retimes: ClassVar[bool] = False  # changes which frames there are or when they show: needs a video output

    def __post_init__(self):
        """Each field an option sets is held to that option's bounds and choices, however the settings were made
        (from option values, or by a caller of the Python API): the one place they are checked."""
        for option in self.options:
            if option.bounds is not None or option.choices:
                checked(option, getattr(self, option.field or option.name))

    @classmethod
    @abstractmethod
    def from_options(cls, values: Mapping[str, Any]) -> "StageSettings | None":
        """The settings for option values by name (missing ones at their defaults); None: the stage is off."""

    def measure(self, film: Film, sample: FilmSample, runners: Runners) -> "StageSettings":
        """These settings completed with what they need from the whole film, measured once before any chunk."""
        return self

    @abstractmethod
    def build(self, film: Film, runners: Runners) -> list[Stage]:
        """The stages these settings run, in order (none: nothing to do for this film)."""

    def files(self, film: Film) -> list[Path]:
        """Model and reference files the result depends on, by content."""
        return []

    def needs_shots(self, film: Film, runners: Runners) -> bool:
        """Whether its stages read where shots begin (`FrameInfo.shot_start`): the plan then runs the shot finder
        before them."""
        return False

    def fingerprint(self) -> dict:
        """The settings as JSON-able data, for the job's fingerprint."""
        return asdict(self)


class OneValueSettings(StageSettings):
    """Settings turned on by their one option, whose value (a strength, a share) is their field `value_field`."""

    value_field: ClassVar[str] = "strength"

    @classmethod
    def from_options(cls, values):
        value = option_value(cls, values, cls.options[0].name)
        return None if value is None else cls(**{cls.value_field: value})


def option_value(cls: type[StageSettings], values: Mapping[str, Any], name: str):
    """The value given for one of `cls`'s options, checked against its choices and bounds, or its default."""
    option = next(option for option in cls.options if option.name == name)
    return checked(option, values.get(name, option.default))


def checked(option: Option, value):
    """`value`, refused unless it is one of `option`'s choices (in any case: the choice is given back as declared)
    and within its bounds (None: not given)."""
    if value is None or option.kind is bool:
        return value
    if option.choices:
        chosen = next((choice for choice in option.choices if choice.lower() == str(value).lower()), None)
        if chosen is None:
            raise OptionError(f"${option.name} must be one of {', '.join(option.choices)}, got {value!r}")
        return chosen
    for one in (value if option.many else (value,)):
        if option.bounds is not None:
            low, high = option.bounds
            if not (low <= one and (high is None or one <= high)):  # also refuses nan
                within = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
                raise OptionError(f"${option.name} must be {within}, got {float(one):g}")
    return value


def check_values(options: Iterable[Option], values: Mapping[str, Any]) -> None:
    """Every value given for these options checked at once, before any work: one error names every refusal."""
    refusals = []
    for option in options:
        try:
            checked(option, values.get(option.name))
        except OptionError as refusal:
            refusals.append(str(refusal.args[0]))
    if refusals:
        raise OptionError("; ".join(refusals))


def check_rate(name: str, fps: float | None) -> Fraction | None:
    """A frame rate given as a number, as a fraction; it must be one a player can show (nan and inf pass float
    parsing)."""
    if fps is None:
        return None
    if not (math.isfinite(fps) and 0 < fps <= MAX_RATE):
        raise OptionError(f"${name} must be positive, finite and at most {MAX_RATE} frames per second, got {fps:g}")
    return Fraction(fps).limit_denominator(1001)
