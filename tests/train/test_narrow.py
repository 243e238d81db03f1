import pytest
import torch

from lumiere.errors import LumiereError
from lumiere.models.archs import build_compact, build_span
from lumiere.train.narrow import compact_layers, feature_importance, narrowed_compact

from ..conftest import smooth_images, smooth_pictures


@pytest.fixture
def wide() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_compact(2, num_feat=16, num_conv=3).eval()


def test_smoke(wide):
    narrow = narrowed_compact(wide, 8, [smooth_pictures(2, 16)])
    convolutions, activations = compact_layers(narrow)
    assert [layer.out_channels for layer in convolutions] == [8, 8, 8, 8, 12]
    assert [layer.num_parameters for layer in activations] == [8, 8, 8, 8]
    assert narrow(smooth_pictures(2, 16)).shape == (2, 3, 32, 32)


def test_cardinality_one_score_per_feature_of_each_hidden_layer(wide):
    scores = feature_importance(wide, [smooth_pictures(2, 16), smooth_pictures(1, 24)])
    assert [score.shape for score in scores] == [(16,)] * 4 and all((score >= 0).all() for score in scores)


def test_features_nothing_reads_are_the_ones_left_out(wide):
    """Where half of each hidden layer's features are never read, the narrowed network is the wide one."""
    convolutions, _ = compact_layers(wide)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for reader in convolutions[1:]:
            reader.weight[:, torch.randperm(16, generator=generator)[:8]] = 0
    narrow = narrowed_compact(wide, 8, [smooth_pictures(2, 16)])
    x = smooth_pictures(2, 20)
    with torch.no_grad():
        torch.testing.assert_close(narrow(x), wide(x), atol=1e-6, rtol=1e-5)


def test_exception(wide):
    with pytest.raises(LumiereError, match="fewer features than its 16, got 16"):
        narrowed_compact(wide, 16, [smooth_pictures(2, 16)])
    with pytest.raises(LumiereError, match="at least one batch"):
        narrowed_compact(wide, 8, [])
    with pytest.raises(LumiereError, match="Compact network with PReLU activations, got SPAN"):
        narrowed_compact(build_span(2, num_feat=8), 4, [smooth_pictures(2, 16)])


def test_training_starts_from_the_narrowed_init(tmp_path, tiny_models):
    from lumiere.models.loader import load_model
    from lumiere.train.config import TrainConfig
    from lumiere.train.loop import train


    folder = smooth_images(tmp_path / "images", count=3, side=64, detail=12)
    config = TrainConfig(scale=2, data=[str(folder)], output=str(tmp_path / "narrow.safetensors"),
                         run_dir=str(tmp_path / "run"), init=str(tiny_models[2]), narrow_to=4, steps=3, batch=4,
                         patch=8, seed=0, device="cpu")
    assert train(config, show_progress=False)["steps"] == 3
    convolutions, _ = compact_layers(load_model(config.output).module)
    assert [layer.out_channels for layer in convolutions] == [4, 4, 4, 12]


def test_exception_narrow_to_needs_an_init_and_a_compact_task():
    from lumiere.errors import OptionError
    from lumiere.train.tasks import training_config

    with pytest.raises(OptionError, match="training starts from: give init"):
        training_config("upscale", {"data": ["x"], "output": "o.safetensors", "narrow_to": 8})
    with pytest.raises(OptionError, match="for upscale and restore, not colorize"):
        training_config("colorize", {"data": ["x"], "output": "o.safetensors", "narrow_to": 8, "init": "colorize"})
