import pytest
import torch

from lumiere.models.damagenet import DamageNet, DamageNetConfig, film_probability
from lumiere.models.loader import load_model, save_weights


def test_smoke(device):
    model = DamageNet(DamageNetConfig(width=4)).to(device).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 3, 32, 48, device=device))
    assert logits.shape == (2, 1, 4, 6)
    probability = film_probability(logits)
    assert probability.shape == (2,) and ((probability >= 0) & (probability <= 1)).all()


def test_exception():
    model = DamageNet(DamageNetConfig(width=4))
    with pytest.raises(ValueError, match=r"multiples of 8, got \(1, 3, 20, 16\)"):
        model(torch.rand(1, 3, 20, 16))
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\), got \(1, 1, 16, 16\)"):
        model(torch.rand(1, 1, 16, 16))


def test_loads_by_its_keys(tmp_path):
    model = DamageNet(DamageNetConfig(width=4)).eval()
    path = tmp_path / "d.safetensors"
    save_weights(model, path, {})
    loaded = load_model(str(path), roles=("detect",))
    assert loaded.descriptor.architecture == "DamageNet" and loaded.module.config.width == 4
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), model(x))
