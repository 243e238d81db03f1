"""Stages that describe themselves: one list, options from the declarations, errors spelled by each front end."""

from dataclasses import dataclass, is_dataclass
from fractions import Fraction

import numpy as np
import pytest

from lumiere import plan
from lumiere.errors import LumiereError, OptionError
from lumiere.output import EncodeRequest
from lumiere.plan import FILM_STAGES, settings_from_options, stage_options
from lumiere.stages.base import FrameStage
from lumiere.stages.deflicker import DeflickerSettings
from lumiere.stages.deinterlace import DeinterlaceSettings
from lumiere.stages.interpolate import InterpolateSettings
from lumiere.stages.settings import Option, StageSettings
from lumiere.stages.shots import ShotsSettings
from lumiere.stages.upscale import UpscaleSettings

from ..conftest import decode_all


def test_smoke_options_become_settings_in_film_order():
    settings = settings_from_options({"fps": 24, "deflicker": 0.5, "scale": 2})
    assert [type(s) for s in settings] == [DeinterlaceSettings, DeflickerSettings, UpscaleSettings,
                                           InterpolateSettings]
    assert settings[1].strength == 0.5 and settings[3].fps == Fraction(24)


def test_preset_fills_what_was_not_given():
    settings = {type(s).__name__: s for s in settings_from_options({"deflicker": 0.3}, "film")}
    assert set(settings) == {"DeinterlaceSettings", "StabilizeSettings", "DeflickerSettings", "RepairSettings",
                             "DegrainSettings", "UpscaleSettings", "RegrainSettings"}
    assert settings["DeflickerSettings"].strength == 0.3 and settings["RegrainSettings"].share == 0.5


def test_cardinality_every_stage_declares_itself():
    names = [option.name for stage in FILM_STAGES for option in stage.options]
    assert len(names) == len(set(names)) == len(stage_options())
    for stage in FILM_STAGES:
        # the shot finder alone has no option: the plan adds it for the stages that read shots
        assert is_dataclass(stage) and (stage.options or stage is ShotsSettings), stage.__name__
        off = stage.from_options({})
        # every stage is off unless asked for; deinterlacing follows the stream, upscaling enlarges x2
        assert off is None or stage in (UpscaleSettings, DeinterlaceSettings)


def test_every_option_is_a_flag_of_restore():
    from click.testing import CliRunner

    from lumiere.cli import main, spell

    help_text = CliRunner().invoke(main, ["restore", "--help"], terminal_width=200).output
    assert all(spell(name) in help_text for name in stage_options())


def test_exception_names_options_as_each_front_end_spells_them():
    from lumiere.cli import spell

    with pytest.raises(OptionError) as raised:
        settings_from_options({"repair_model": "film-repair"})
    assert str(raised.value) == "repair_model is what repair paints with: add repair"
    assert raised.value.spelled(spell) == "--repair-model is what --repair paints with: add --repair"
    assert LumiereError("give $output a name").spelled(spell) == "give -o a name"


def test_exception_every_bad_value_at_once():
    """Bounds and choices are checked where the options are declared, all of them before any work."""
    from lumiere.cli import spell

    with pytest.raises(OptionError) as raised:
        settings_from_options({"deflicker": 5.0, "scale": 20.0, "saturation": float("nan"), "borders": "zoom",
                               "colorize": True, "stabilize": True})
    assert raised.value.spelled(spell) == ("--borders must be one of fill, crop, got 'zoom'; --deflicker must be "
                                           "between 0 and 1, got 5; --scale must be between 1 and 8, got 20; "
                                           "--saturation must be between 0 and 4, got nan")


def test_exception_api_asks_for_switches_as_keywords():
    import inspect

    from lumiere.api import colorize, restore
    from lumiere.errors import SWITCHES

    assert str(OptionError("add $overwrite to replace it")) == "add overwrite=True to replace it"
    keywords = {name for function in (restore, colorize)
                for name, parameter in inspect.signature(function).parameters.items() if parameter.default is False}
    stage_switches = {name for name, option in stage_options().items() if option.kind is bool}
    assert SWITCHES == keywords | stage_switches


def test_help_is_spelled_by_each_front_end():
    import lumiere

    assert "$" not in "".join(lumiere.options().values()) and "--" not in "".join(lumiere.options().values())
    assert lumiere.options()["drop_duplicates"].endswith("pair with fps.")
    assert {"restore", "upscale", "colorize", "options", "load_model"} <= set(dir(lumiere))


@dataclass(frozen=True)
class InvertSettings(StageSettings):
    """A stage added the way docs/architecture.md says: its settings, its stage, one line in FILM_STAGES."""

    options = (Option("invert", "Negative to positive.", kind=bool),)

    @classmethod
    def from_options(cls, values):
        return cls() if values.get("invert") else None

    def build(self, film, runners):
        return [InvertStage()]


class InvertStage(FrameStage):
    name = "invert"

    def process(self, frames):
        return 1 - frames


def test_a_new_stage_is_one_class_and_one_line(tmp_path, video_factory, monkeypatch):
    from lumiere.jobs import restore

    monkeypatch.setattr(plan, "FILM_STAGES", (*FILM_STAGES[:-1], InvertSettings, FILM_STAGES[-1]))
    assert "invert" in stage_options()
    settings = settings_from_options({"invert": True, "scale": 1})
    src, out = video_factory(frames=3, size=(32, 24)), tmp_path / "out.mkv"
    restore(src, out, *settings, encode=EncodeRequest("ffv1"), show_progress=False)
    before, after = decode_all(src), decode_all(out)
    assert all(np.abs(255 - a.astype(int) - b).max() <= 1 for a, b in zip(after, before, strict=True))
