import pytest
import torch

from lumiere.engine.runner import ModelRunner, RunnerSettings
from lumiere.errors import LumiereError
from lumiere.models.loader import load_model
from lumiere.stages.upscale import UpscaleStage, network_passes, target_size


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


def test_target_size_even():
    assert target_size(641, 481, scale=1.5, even=True) == (962, 722)


@pytest.mark.parametrize("kwargs,message", [
    ({"scale": 0}, "between 1 and 8"), ({"scale": -1}, "between 1 and 8"), ({"scale": 100}, "between 1 and 8"),
    ({"target_height": 100}, "does not shrink"), ({"fit": "16k"}, "--to must be one of"),
    ({"scale": 2, "target_height": 960}, "only one of"), ({"target_height": 480 * 9}, "the most lumiere upscales"),
])
def test_exception(kwargs, message):
    with pytest.raises(LumiereError, match=message):
        target_size(640, 480, **kwargs)


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
