import pytest
import torch

from lumiere.engine.aligned_neighbours import aligned_input
from lumiere.errors import ModelError
from lumiere.models.loader import load_model, save_weights
from lumiere.models.multiframe import MultiFrameConfig, MultiFrameNet, input_channels, neighbours_of
from lumiere.motion import WindowFlows
from lumiere.ops import luma_u8

TINY = MultiFrameConfig(neighbours=1, num_feat=8, num_conv=2, scale=2)


def _tiny_file(tmp_path, config=TINY):
    torch.manual_seed(0)
    model = MultiFrameNet(config).eval()
    path = tmp_path / "video.safetensors"
    save_weights(model, path, {})
    return model, path


def _panning_clip(frames: int, shift: int = 1, side: int = 32) -> torch.Tensor:
    """A smooth random picture seen through a camera moving `shift` px right per frame."""
    generator = torch.Generator().manual_seed(0)
    picture = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12 + frames, generator=generator),
                                              size=(side, side + shift * frames), mode="bicubic").clamp(0, 1)[0]
    return torch.stack([picture[:, :, shift * t:shift * t + side] for t in range(frames)])


def test_smoke(device):
    model = MultiFrameNet(TINY).to(device).eval()
    with torch.no_grad():
        out = model(torch.rand(2, input_channels(1), 10, 12, device=device))
    assert out.shape == (2, 3, 20, 24)


@pytest.mark.parametrize(("neighbours", "scale", "batch", "size"), [(1, 2, 1, (8, 8)), (2, 4, 3, (6, 10)),
                                                                    (2, 1, 2, (5, 7))])
def test_cardinality(neighbours, scale, batch, size):
    model = MultiFrameNet(MultiFrameConfig(neighbours=neighbours, num_feat=4, num_conv=1, scale=scale)).eval()
    assert neighbours_of(input_channels(neighbours)) == neighbours
    with torch.no_grad():
        out = model(torch.rand(batch, input_channels(neighbours), *size))
    assert out.shape == (batch, 3, size[0] * scale, size[1] * scale)


def test_exception(tmp_path):
    model = MultiFrameNet(TINY)
    with pytest.raises(ValueError, match=r"expected \(B, 11, H, W\), got \(1, 3, 8, 8\)"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="expected 3 \\+ 8N input channels .* got 12"):
        neighbours_of(12)
    with pytest.raises(ValueError, match="expected a 3-channel Real-ESRGAN Compact network, got MultiFrameNet"):
        MultiFrameNet.from_compact(model)
    clip = torch.rand(3, 3, 8, 8)
    with pytest.raises(ValueError, match="got 2 planes, 3 frames, centre 1"):
        aligned_input(clip, [luma_u8(frame) for frame in clip[:2]], 1, 1, WindowFlows())
    with pytest.raises(ModelError, match="is a multi-frame video upscaler .*not an upscaler"):
        load_model(str(_tiny_file(tmp_path)[1]), roles=("upscale",))


def test_starts_as_the_single_frame_network_it_is_made_from():
    film_x4 = load_model("film-x4").module
    model = MultiFrameNet.from_compact(film_x4, neighbours=2).eval()
    assert (model.config.num_feat, model.config.num_conv, model.config.scale) == (64, 16, 4)
    x = torch.rand(2, input_channels(2), 12, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), film_x4(x[:, 6:9]), rtol=0, atol=1e-5)


def test_loader_deduces_the_architecture_from_the_weights(tmp_path):
    config = MultiFrameConfig(neighbours=2, num_feat=8, num_conv=3, scale=4)
    model, path = _tiny_file(tmp_path, config)
    loaded = load_model(str(path), roles=("video",))
    descriptor = loaded.descriptor
    assert (descriptor.architecture, descriptor.role, descriptor.scale) == ("MultiFrameNet", "video", 4)
    assert descriptor.input_channels == input_channels(2) and loaded.module.config == config
    x = torch.rand(1, input_channels(2), 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), model(x))


def test_neighbours_are_laid_onto_the_frame_with_their_confidence():
    clip = _panning_clip(3, shift=2)
    lumas = [luma_u8(frame) for frame in clip]
    x = aligned_input(clip, lumas, 1, 1, WindowFlows())
    assert x.shape == (input_channels(1), 32, 32)
    inner = (slice(None), slice(8, 24), slice(8, 24))
    for k in (0, 2):  # the camera moved: unaligned, the neighbour differs; laid onto the frame, it matches
        assert (clip[k] - clip[1])[inner].abs().mean() > 0.01
        assert (x[3 * k:3 * k + 3] - clip[1])[inner].abs().mean() < 0.01
    assert x[9:, 8:24, 8:24].min() > 0.5
    # a neighbour outside the shot is the frame itself with confidence 0
    alone = aligned_input(clip, lumas, 1, 1, WindowFlows(), shot=(1, 2))
    assert torch.equal(alone[:3], clip[1]) and torch.equal(alone[9], torch.zeros(32, 32))
    assert torch.equal(alone[6:9], x[6:9])
