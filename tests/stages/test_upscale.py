import pytest
import torch

from lumiere.engine.runner import ModelRunner, Runners, RunnerSettings
from lumiere.errors import LumiereError, OptionError
from lumiere.eval.metrics import lattice_peak_db
from lumiere.io.images import read_image
from lumiere.models.damagenet import DamageNet, DamageNetConfig
from lumiere.models.loader import load_model, save_weights
from lumiere.ops import array_to_tensor
from lumiere.stages.upscale import (
    UpscalerChoice,
    UpscaleSettings,
    UpscaleStage,
    choose_upscaler,
    measure_input_kind,
    network_passes,
    target_size,
    upscale_stage,
    upscaler,
)
from tests.conftest import data_path


@pytest.mark.parametrize("kwargs,expected", [
    ({"scale": 4}, (2560, 1920)),
    ({"scale": 2.5}, (1600, 1200)),
    ({"scale": 6}, (3840, 2880)),
    ({"target_height": 2160}, (2880, 2160)),
    ({"fit": "4k"}, (2880, 2160)),
    ({"fit": "1080p"}, (1440, 1080)),
    ({"scale": 1}, (640, 480)),
])
def test_target_size(kwargs, expected):
    assert target_size(640, 480, **kwargs) == expected


def test_wants_upscale_even():
    """A codec that needs even sizes rounds the output up; the size asked for is kept for the notice."""
    assert UpscaleSettings(scale=1.5).wants_upscale((641, 481), even=True) == ((962, 722), (962, 722))
    assert UpscaleSettings(scale=1.5).wants_upscale((641, 481), even=False) == ((962, 722), (962, 722))
    assert UpscaleSettings(scale=1.5).wants_upscale((642, 481), even=True) == ((964, 722), (963, 722))
    assert UpscaleSettings(scale=1).wants_upscale((321, 240), even=True) == ((322, 240), (321, 240))
    assert UpscaleSettings(scale=1).wants_upscale((321, 240), even=False) is None


@pytest.mark.parametrize("kwargs,message", [
    ({"target_height": 100}, "does not shrink"), ({"scale": 2, "target_height": 960}, "only one of"),
    ({"target_height": 480 * 9}, "the most lumiere upscales"),
])
def test_exception(kwargs, message):
    with pytest.raises(LumiereError, match=message):
        target_size(640, 480, **kwargs)


@pytest.mark.parametrize("kwargs,message", [
    ({"scale": 0}, "scale must be between 1 and 8"), ({"scale": -1}, "between 1 and 8"),
    ({"scale": 100}, "between 1 and 8"), ({"scale": float("nan")}, "between 1 and 8"),
    ({"to": "16k"}, "to must be one of"), ({"look": "vivid"}, "look must be one of faithful, detailed"),
    ({"strength": 1.5}, "strength must be between 0 and 1, got 1.5"), ({"quality": "best"}, "quality must be one"),
])
def test_exception_settings(kwargs, message):
    """The settings refuse what their options do not allow when they are made, before any film is measured."""
    with pytest.raises(OptionError, match=message):
        UpscaleSettings(**kwargs)


@pytest.mark.parametrize("factor,model_scale,passes", [(4, 4, 1), (6, 4, 1), (2.5, 4, 1), (8, 2, 3), (16, 4, 2),
                                                       (1.5, 2, 1), (3.9, 2, 1)])
def test_network_passes(factor, model_scale, passes):
    assert network_passes(factor, model_scale) == passes


@pytest.mark.parametrize("out_size", [(96, 72), (160, 120), (60, 45)])
def test_cardinality(tiny_models, out_size):
    runner = ModelRunner(load_model(str(tiny_models[4])), RunnerSettings("cpu"))
    stage = UpscaleStage(runner, (32, 24), out_size)
    out = stage.process(torch.rand(2, 3, 24, 32))
    assert out.shape == (2, 3, out_size[1], out_size[0])
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("factor, look, strength, kind, expected", [
    (4, "faithful", None, "film", "film-x4"),
    (4, "faithful", None, "clean", "sr-x4"),
    (2, "faithful", None, "clean", "sr-x2"),
    (3, "faithful", None, "film", "film-x4"),
    (1.5, "faithful", None, "film", "film-x2"),
    (4, "detailed", None, "film", "film-x4 and film-x4-detailed blended 0.30:0.70"),
    (2, "detailed", None, "clean", "film-x2 and film-x2-detailed blended 0.30:0.70"),
    (4, "faithful", 1.0, "film", "film-x4-detailed"),
    (2, "faithful", 1.0, "clean", "film-x2-detailed"),
    (4, "detailed", 0.0, "clean", "sr-x4"),
    (4, "faithful", 0.3, "clean", "film-x4 and film-x4-detailed blended 0.70:0.30"),
])
def test_choose_upscaler(factor, look, strength, kind, expected):
    assert str(choose_upscaler(factor, look, strength, kind)) == expected


@pytest.mark.parametrize("quality, network", [("high", "film-x4-high"), ("fast", "film-x4-fast")])
def test_choose_upscaler_by_quality(quality, network):
    assert str(choose_upscaler(2, kind="clean", quality=quality)) == network
    assert str(choose_upscaler(4, quality=quality)) == network
    with pytest.raises(LumiereError, match=f"quality {quality} has the faithful look only"):
        choose_upscaler(4, "detailed", quality=quality)




def test_measure_input_kind(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "detector.safetensors"
    save_weights(DamageNet(DamageNetConfig(width=4)), path, {})
    detector = ModelRunner(load_model(str(path), roles=("detect",)), RunnerSettings("cpu"))
    for size in [(1, 3, 37, 45), (1, 3, 1100, 64)]:  # odd sizes and a side beyond what the detector looks at
        kind, probability = measure_input_kind(detector, torch.rand(size))
        assert kind == ("film" if probability > 0.5 else "clean") and 0 <= probability <= 1
    assert measure_input_kind(detector, torch.rand(1, 3, 5, 5)) == ("film", 1.0)  # too small to judge


@pytest.mark.parametrize("choice, period", [
    (UpscalerChoice("film-x4"), 0), (UpscalerChoice("film-x4-detailed"), 4), (UpscalerChoice("sr-x2"), 0),
    (UpscalerChoice("film-x2", "film-x2-detailed", 0.7), 2), (UpscalerChoice("film-x4", "film-x4-detailed", 0.0), 0),
])
def test_lattice_period(choice, period):
    assert choice.lattice_period == period


@pytest.mark.slow
def test_detailed_look_without_lattice():
    """The detailed look's dotted lattice (issue 30) is gone from what the stage writes, on a real old photo."""
    photos = data_path("color", "bw-photos")
    picture = array_to_tensor(read_image(sorted(photos.iterdir())[0]).rgb)[None, :, :96, :128]
    runners = Runners(RunnerSettings(tile=0))
    choice = choose_upscaler(4, "detailed")
    enlarged = upscale_stage(choice, runners, (128, 96), (512, 384)).process(picture)
    raw = upscaler(choice, runners)(picture).clamp(0, 1)
    assert lattice_peak_db(raw, 4, shave=8) > 12
    assert lattice_peak_db(enlarged, 4, shave=8) < 8
