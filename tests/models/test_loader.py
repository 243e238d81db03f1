import pytest
import torch

from lumiere.errors import ModelError
from lumiere.models.archs import build_compact
from lumiere.models.colornet import ColorNet, ColorNetConfig
from lumiere.models.loader import interpolate_models, load_model, save_weights
from lumiere.models.repairnet import RepairNet, RepairNetConfig
from lumiere.models.shipped import SHIPPED, ModelRegistry, ShippedModel


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



@pytest.mark.parametrize("name", ["", "  "])
def test_exception_no_model_named(name):
    with pytest.raises(ModelError, match="^no model was named: the name is empty$"):
        load_model(name)


def test_user_model_by_name(tmp_path, tiny_models, monkeypatch):
    """An imported model is used by the name it was imported as (`models import realesrgan-x4plus.param`)."""
    import lumiere

    monkeypatch.setenv("LUMIERE_MODELS", str(tmp_path))
    (tmp_path / "realesrgan-x4plus.safetensors").write_bytes(tiny_models[4].read_bytes())
    for name in ("realesrgan-x4plus", "realesrgan-x4plus.safetensors"):
        descriptor = load_model(name).descriptor
        assert (descriptor.name, descriptor.scale) == ("realesrgan-x4plus", 4)
    assert lumiere.load_model("realesrgan-x4plus").descriptor.scale == 4


def test_user_models_names(tmp_path, tiny_models, monkeypatch):
    """By their stem, except where the stem is a shipped model's or another file's too: there by the file name."""
    from lumiere.models.loader import user_models

    monkeypatch.setenv("LUMIERE_MODELS", str(tmp_path))
    for name in ("mine.safetensors", "film-x4.safetensors", "twice.safetensors"):
        (tmp_path / name).write_bytes(tiny_models[2].read_bytes())
    for name in ("community.pth", "twice.pth"):
        torch.save(build_compact(2, num_feat=8, num_conv=2).state_dict(), tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a model")
    assert user_models() == {name: tmp_path / file for name, file in [
        ("community", "community.pth"), ("film-x4.safetensors", "film-x4.safetensors"), ("mine", "mine.safetensors"),
        ("twice.pth", "twice.pth"), ("twice.safetensors", "twice.safetensors")]}
    assert load_model("film-x4").descriptor.source != tmp_path / "film-x4.safetensors"  # the shipped one
    assert load_model("twice.pth").descriptor.scale == 2
    with pytest.raises(ModelError, match="no model named 'twice'"):
        load_model("twice")

def test_registry_refuses_duplicates():
    registry = ModelRegistry()
    registry.register(ShippedModel("a", "a.safetensors", ""))
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(ShippedModel("a", "b.safetensors", ""))


SHIPPED_ROLES = {"sr-x2": ("upscale", 2), "sr-x4": ("upscale", 4), "film-x2": ("upscale", 2),
                 "film-x4": ("upscale", 4), "film-clean": ("restore", 1), "colorize": ("colorize", 1),
                 "colorize-lite0": ("colorize", 1),
                 "film-repair": ("repair", 1), "film-detect": ("detect", 1), "film-x4-high": ("upscale", 4),
                 "film-x4-fast": ("upscale", 4), "film-x4-detailed": ("upscale", 4), "film-x2-detailed": ("upscale", 2),
                 "video-x1": ("video", 1), "video-x2": ("video", 2), "video-x4": ("video", 4),
                 "basicvsr-clean-x4": ("video", 4), "basicvsr-blurred-x4": ("video", 4),
                 "basicvsr-film-x4": ("video", 4), "basicvsr-film-x4-detailed": ("video", 4),
                 "basicvsr-reds-x4": ("video", 4), "rife-4.0": ("interpolate", 1), "rife-4.25": ("interpolate", 1),
                 "transnetv2": ("shots", 1)}


def test_every_shipped_model_has_a_known_role():
    assert sorted(SHIPPED_ROLES) == SHIPPED.names()


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED.names())
def test_shipped_models_load(name):
    shipped = SHIPPED.get(name)
    assert shipped.path.is_file(), f"{shipped.path} is not in the package"
    assert shipped.path.stat().st_size < 40e6
    descriptor = load_model(name).descriptor
    assert (descriptor.role, descriptor.scale) == SHIPPED_ROLES[name]


@pytest.mark.parametrize("network, architecture, role", [
    (ColorNet(ColorNetConfig(width=4)), "ColorNet", "colorize"),
    (RepairNet(RepairNetConfig(width=4)), "RepairNet", "repair"),
], ids=["colornet", "repairnet"])
def test_own_architectures_load_by_their_keys(tmp_path, network, architecture, role):
    """lumiere's own networks load like any community file: no metadata, hyperparameters from the shapes."""
    path = tmp_path / "own.safetensors"
    save_weights(network.eval(), path, {})
    loaded = load_model(str(path), roles=(role,))
    assert (loaded.descriptor.architecture, loaded.descriptor.role) == (architecture, role)
    assert loaded.module.config == network.config
    for key, value in network.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[key], value)


def test_exception_model_for_another_job(tiny_models, tiny_colorizer):
    with pytest.raises(ModelError, match=r"is a colorizer \(ColorNet\), not an upscaler or a same-size"):
        load_model(str(tiny_colorizer), roles=("upscale", "restore"))
    with pytest.raises(ModelError, match=r"is an upscaler \(RealESRGAN Compact\), not a colorizer"):
        load_model(str(tiny_models[2]), roles=("colorize",))


def test_interpolate_models(tmp_path):
    torch.manual_seed(0)
    paths = []
    for name in ("a", "b"):
        paths.append(tmp_path / f"{name}.safetensors")
        save_weights(build_compact(2, num_feat=8, num_conv=2), paths[-1], {})
    a, b = (load_model(str(p)) for p in paths)
    for share, expected in ((0.0, a), (1.0, b)):
        blended = interpolate_models(a, b, share)
        for key, value in expected.module.state_dict().items():
            assert torch.allclose(blended.module.state_dict()[key], value)
    half = interpolate_models(a, b, 0.5).module.state_dict()
    key = "body.0.weight"
    assert torch.allclose(half[key], (a.module.state_dict()[key] + b.module.state_dict()[key]) / 2)
    assert torch.equal(a.module.state_dict()[key], load_model(str(paths[0])).module.state_dict()[key])  # untouched


def test_a_blend_of_calibrated_networks_runs_in_int8_with_both_ranges(tmp_path):
    from lumiere.models.loader import store_int8_ranges

    paths = [tmp_path / f"{name}.safetensors" for name in ("a", "b", "plain")]
    for path in paths:
        save_weights(build_compact(2, num_feat=8, num_conv=2), path, {})
    names = [name for name, layer in load_model(str(paths[0])).module.named_modules()
             if isinstance(layer, torch.nn.Conv2d)]
    store_int8_ranges(paths[0], {name: (-1.0, 2.0) for name in names})
    store_int8_ranges(paths[1], {name: (-0.5, 3.0) for name in names})
    a, b, plain = (load_model(str(path)) for path in paths)
    assert interpolate_models(a, b, 0.7).int8_ranges == {name: (-1.0, 3.0) for name in names}
    assert interpolate_models(a, plain, 0.7).int8_ranges is None  # one of them uncalibrated: no int8


def test_interpolate_models_exception(tiny_models):
    with pytest.raises(ModelError, match="cannot be blended: they are not the same network"):
        interpolate_models(load_model(str(tiny_models[2])), load_model(str(tiny_models[4])), 0.5)
