import pytest
import torch

from lumiere.errors import ModelError
from lumiere.models.loader import load_model, save_weights
from lumiere.models.repairnet import FRAMES, RepairNet, RepairNetConfig


def test_smoke(device):
    model = RepairNet(RepairNetConfig(width=4)).to(device).eval()
    frames = torch.rand(2, FRAMES * 3, 16, 24, device=device)
    with torch.no_grad():
        logit, repaired = model.defects_and_picture(frames)
        assert torch.equal(model(frames), repaired)
    assert logit.shape == (2, 1, 16, 24) and repaired.shape == (2, 3, 16, 24)


def test_save_and_load(tmp_path):
    model = RepairNet(RepairNetConfig(width=4)).eval()
    path = tmp_path / "r.safetensors"
    save_weights(model, path, {})
    frames = torch.rand(1, FRAMES * 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(load_model(str(path), roles=("repair",)).module(frames), model(frames))


def test_exception(tiny_colorizer):
    model = RepairNet(RepairNetConfig(width=4))
    with pytest.raises(ValueError, match=r"multiples of 4, got \(1, 15, 10, 8\)"):
        model(torch.rand(1, 15, 10, 8))
    with pytest.raises(ValueError, match=r"expected \(B, 15, H, W\), got \(1, 3, 8, 8\)"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ModelError, match="not a dust-and-scratch repair network"):
        load_model(str(tiny_colorizer), roles=("repair",))
