"""What a job will do, as data: option values to settings in the stages' order, measured once on the film."""

import pickle

import pytest

from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.errors import OptionError
from lumiere.io.reader import open_source
from lumiere.plan import FILM_STAGES, StagePlan, build_stages, plan_stages, settings_from_options
from lumiere.stages.deflicker import DeflickerSettings
from lumiere.stages.grain import RegrainSettings
from lumiere.stages.shots import ShotsSettings
from lumiere.stages.upscale import UpscaleSettings, UpscaleStage


def test_smoke():
    settings = settings_from_options({"regrain": 0.3, "scale": 2, "deflicker": 1.0})
    assert [type(s) for s in settings][-3:] == [DeflickerSettings, UpscaleSettings, RegrainSettings]
    assert [type(s) for s in settings] == sorted((type(s) for s in settings), key=FILM_STAGES.index)


def test_preset_fills_what_was_not_given():
    settings = {type(s): s for s in settings_from_options({"deflicker": 0.4}, "film")}
    assert settings[DeflickerSettings].strength == 0.4  # given: it wins
    assert settings[RegrainSettings].share == 0.5  # from the preset


@pytest.mark.parametrize("values,preset,message", [
    ({}, "vintage", "unknown preset 'vintage'"),
    ({"scale": 99, "deflicker": 7}, None, "deflicker must be .*; scale must be"),  # every refusal in one error
    ({"look": "painted"}, None, "look"),
])
def test_exception(values, preset, message):
    with pytest.raises(OptionError, match=message):
        settings_from_options(values, preset)


def test_cardinality_plan(video_factory, tiny_models):
    """Measured once: the enlargement (rounded up to even sizes where the codec needs them, the size asked for
    kept), the network chosen, the shot finder added for the stage that reads shots; picklable for Ray."""
    source = open_source(video_factory("odd.mkv", frames=3, size=(63, 47), codec="ffv1", pix_fmt="bgr0"))
    settings = settings_from_options({"scale": 2, "model": str(tiny_models[2]), "deflicker": 1.0})
    runners = Runners(RunnerSettings("cpu"))
    plan = plan_stages(source, settings, RunnerSettings("cpu"), even=True, runners=runners)
    assert (plan.film.size, plan.film.out_size, plan.asked_size) == ((63, 47), (126, 94), (126, 94))
    upscale = plan.get(UpscaleSettings)
    assert upscale.chosen.name == str(tiny_models[2]) and upscale.measured_kind is None
    assert [type(s) for s in plan.stages][-3:-1] == [ShotsSettings, DeflickerSettings]
    assert plan.files()[-1] == tiny_models[2]  # after the shot finder's
    assert isinstance(pickle.loads(pickle.dumps(plan)), StagePlan)
    assert any(isinstance(stage, UpscaleStage) for stage in build_stages(plan, runners))
    rounded = plan_stages(source, settings_from_options({"scale": 1.5, "model": str(tiny_models[1])}),
                          RunnerSettings("cpu"), even=True, runners=runners)
    assert (rounded.film.out_size, rounded.asked_size) == ((94, 70), (94, 70))
