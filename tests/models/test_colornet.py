import pytest
import torch

from lumiere.errors import ModelError
from lumiere.models.colornet import ColorNet, ColorNetConfig, ab_gamut_bins
from lumiere.models.loader import load_model, save_weights


def test_gamut_bins():
    bins = ab_gamut_bins()
    assert bins.shape[1] == 2 and 200 < bins.shape[0] < 400
    assert (bins == 0).all(dim=1).any()  # gray is a colour too
    assert bins[:, 0].min() >= -90 and bins[:, 1].min() >= -110 and bins.abs().max() <= 130


def test_smoke(device):
    model = ColorNet(ColorNetConfig(width=4)).to(device).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 1, 32, 48, device=device))
        ab = model.decode(logits)
    assert logits.shape == (2, model.config.bins, 8, 12)
    assert ab.shape == (2, 2, 8, 12) and ab.abs().max() <= 130


def test_decode_temperature():
    model = ColorNet(ColorNetConfig(width=4))
    logits = torch.zeros(1, model.config.bins, 1, 1)
    red = int(((model.ab_bins - torch.tensor([60.0, 50.0])) ** 2).sum(1).argmin())
    logits[0, red] = 3.0
    bold, mild = model.decode(logits, 0.1), model.decode(logits, 1.0)
    assert torch.allclose(bold[0, :, 0, 0], model.ab_bins[red], atol=0.5)
    assert mild.norm() < bold.norm()


def test_save_and_load(tmp_path):
    model = ColorNet(ColorNetConfig(width=4)).eval()
    path = tmp_path / "c.safetensors"
    save_weights(model, path, {})
    loaded = load_model(str(path), roles=("colorize",)).module
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_exception(tmp_path, tiny_models):
    model = ColorNet(ColorNetConfig(width=4))
    with pytest.raises(ValueError, match=r"multiples of 16, got \(1, 1, 20, 16\)"):
        model(torch.rand(1, 1, 20, 16))
    with pytest.raises(ValueError, match=r"expected \(B, 1, H, W\), got \(1, 3, 16, 16\)"):
        model(torch.rand(1, 3, 16, 16))
    with pytest.raises(ModelError, match="not a colorizer"):
        load_model(str(tiny_models[2]), roles=("colorize",))
    bad = tmp_path / "bad.safetensors"
    bad.write_text("not weights")
    with pytest.raises(ModelError, match="not a model lumiere can load"):
        load_model(str(bad), roles=("colorize",))


def test_spread_tells_a_sure_guess_from_a_broad_one():
    model = ColorNet(ColorNetConfig(width=4))
    broad = torch.zeros(1, model.config.bins, 1, 1)
    sure = broad.clone()
    sure[0, 0] = 30.0
    assert model.spread(sure, calibration=0).item() < 1 < 30 < model.spread(broad, calibration=0).item()


def test_grown_network_predicts_the_same_and_loads_with_its_blocks(tmp_path):
    model = ColorNet(ColorNetConfig(width=4)).eval()
    grown = model.grown(2).eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(grown(x), model(x))
    path = tmp_path / "grown.safetensors"
    save_weights(grown, path, {})
    assert load_model(str(path), roles=("colorize",)).module.config.context_blocks == 2
    with pytest.raises(ValueError, match="at least 2 context blocks, got 1"):
        grown.grown(1)


def test_decoding_constants_stay_float32_in_any_precision():
    """The network may compute in bf16; its decoding (bins, class weights, gain) must not round with it."""
    network = ColorNet(ColorNetConfig(width=4))
    network.colour_gain.copy_(torch.tensor([0.6, 3.3]))
    network.to(torch.bfloat16)
    assert network.head.weight.dtype == torch.bfloat16
    assert network.colour_gain.dtype == torch.float32 and network.colour_gain.tolist() == pytest.approx([0.6, 3.3])
    assert network.ab_bins.dtype == network.class_weights.dtype == torch.float32
    assert set(network.state_dict()) == set(ColorNet(ColorNetConfig(width=4)).state_dict())
