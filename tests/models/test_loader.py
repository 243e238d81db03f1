import pytest
import torch

from lumiere.errors import ModelError
from lumiere.models.archs import build_compact
from lumiere.models.loader import load_colorizer, load_model, load_repairnet, save_weights
from lumiere.models.registry import SHIPPED, ModelRegistry, ShippedModel


def test_smoke_user_file(tiny_models):
    loaded = load_model(str(tiny_models[4]))
    d = loaded.descriptor
    assert (d.scale, d.architecture, d.input_channels, d.output_channels) == (4, "RealESRGAN Compact", 3, 3)
    assert d.supports(torch.float16) and d.supports(torch.bfloat16)
    assert not loaded.module.training


def test_pth_file_loads_too(tmp_path):
    model = build_compact(2, num_feat=8, num_conv=2)
    path = tmp_path / "community.pth"
    torch.save(model.state_dict(), path)
    assert load_model(str(path)).descriptor.scale == 2


def test_saved_weights_round_trip(tmp_path):
    model = build_compact(2, num_feat=8, num_conv=2)
    path = tmp_path / "m.safetensors"
    save_weights(model, path, {"lumiere.task": "upscale"})
    reloaded = load_model(str(path)).module
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), reloaded(x))


@pytest.mark.parametrize("content", [b"this is not a model\n", b""])
def test_exception_not_a_model(tmp_path, content):
    path = tmp_path / "fake.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a model lumiere can load"):
        load_model(str(path))


def test_exception_unknown_name():
    with pytest.raises(ModelError, match="no model named 'nope'"):
        load_model("nope")


def test_registry_refuses_duplicates():
    registry = ModelRegistry()
    registry.register(ShippedModel("a", "a.safetensors", "upscale", ""))
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(ShippedModel("a", "b.safetensors", "upscale", ""))


SHIPPED_SCALES = {"sr-x2": 2, "sr-x4": 4, "film-x2": 2, "film-x4": 4, "film-clean": 1, "colorize": None,
                  "film-repair": None}
OWN_NETWORKS = ("colorize", "repair")  # lumiere's own architectures, not spandrel upscalers


def test_every_shipped_model_has_a_known_scale():
    assert sorted(SHIPPED_SCALES) == SHIPPED.names()
    assert all((SHIPPED.get(name).task in OWN_NETWORKS) == (scale is None) for name, scale in SHIPPED_SCALES.items())


@pytest.mark.parametrize("name", SHIPPED.names())
def test_shipped_models_load(name):
    shipped = SHIPPED.get(name)
    assert shipped.path.is_file(), f"{shipped.path} is not in the package"
    assert shipped.path.stat().st_size < 20 * 1024 * 1024
    if shipped.task == "colorize":
        assert load_colorizer(name).config.bins > 200
        return
    if shipped.task == "repair":
        assert load_repairnet(name).config.width > 0
        return
    loaded = load_model(name)
    assert loaded.descriptor.scale == SHIPPED_SCALES[name]
