import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from lumiere.cielab import lightness, rgb_to_lab
from lumiere.degradations.functional import resize
from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.eval.metrics import ciede2000
from lumiere.io.images import read_image
from lumiere.io.reader import FrameInfo
from lumiere.models.colornet import ColorNet, ColorNetConfig
from lumiere.models.loader import save_weights
from lumiere.ops import array_to_tensor
from lumiere.stages.colorize import (
    GAIN_GRID,
    SKIN_AB,
    Colorizer,
    ColorizeSettings,
    ColorizeStage,
    References,
    choose_colour_gain,
    colour_gain,
    guided_filter,
    guided_upsample,
    skin_weights,
    work_size,
)
from lumiere.stages.colorize import colorizer as make_colorizer


@pytest.fixture
def colorizer(tiny_colorizer):
    return make_colorizer(ColorizeSettings(model=str(tiny_colorizer), render_size=64), Runners(RunnerSettings("cpu")))


@pytest.mark.slow
def test_faces_get_a_skin_tone(tiny_colorizer):
    from ..conftest import data_path

    truth = array_to_tensor(read_image(data_path("color", "kodak", "kodim04.png")).rgb)[None]
    gray = lightness(truth).expand(-1, 3, -1, -1) / 100
    luma = lightness(truth)
    skin = skin_weights(luma, resize(luma, (192, 128), "area"))[0, 0]
    assert skin.shape == (192, 128) and skin[80:110, 50:80].mean() > 0.9  # her cheeks
    assert skin[:40].max() < 0.1 and skin[-30:].max() < 0.1  # hat and dress
    coloured = {}
    for strength in (0.0, 1.0):
        settings = ColorizeSettings(model=str(tiny_colorizer), render_size=128, skin=strength)
        stage = ColorizeStage(make_colorizer(settings, Runners(RunnerSettings("cpu"))), temporal=False)
        coloured[strength] = rgb_to_lab(stage.process(gray, [0]))[0, 1:, 330:420, 200:300].mean(dim=(1, 2))
    tone = torch.tensor(SKIN_AB)
    assert (coloured[1.0] - tone).norm() < 4 < (coloured[0.0] - tone).norm()


def _scene(seed: int, size=(96, 128)) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 6, 8, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def _grainy_gray_clip(frames: int, seed: int = 0) -> torch.Tensor:
    scene = _scene(seed).mean(dim=1, keepdim=True).expand(1, 3, -1, -1)
    generator = torch.Generator().manual_seed(seed + 1)
    grain = 0.04 * torch.randn(frames, 1, *scene.shape[-2:], generator=generator)
    return (scene + grain).clamp(0, 1)


def test_work_size():
    assert work_size(640, 480, 256, 16) == (336, 256)
    assert work_size(3840, 2880, 256, 16) == (336, 256)
    assert all(side % 16 == 0 for side in work_size(1000, 333, 100, 16))
    assert work_size(640, 480, 256, 32) == (352, 256)


def test_smoke_keeps_lightness(colorizer):
    clip = _grainy_gray_clip(3)
    out = ColorizeStage(colorizer).process(clip, [0, 1, 2])
    assert out.shape == clip.shape
    assert (lightness(out) - lightness(clip)).abs().mean() < 0.1  # colour added, luma kept (but where clipped)


def test_guided_upsample_follows_the_guide():
    guide_small = torch.linspace(0, 100, 16).view(1, 1, 1, 16).expand(1, 1, 16, 16).contiguous()
    guide_full = torch.nn.functional.interpolate(guide_small, size=(64, 64), mode="bilinear", align_corners=False)
    constant = torch.full((1, 2, 16, 16), 7.0)
    assert torch.allclose(guided_upsample(constant, guide_small, guide_full), torch.full((1, 2, 64, 64), 7.0),
                          atol=1e-3)
    linear = torch.cat([0.5 * guide_small, -0.2 * guide_small + 10], dim=1)
    expected = torch.cat([0.5 * guide_full, -0.2 * guide_full + 10], dim=1)
    assert (guided_upsample(linear, guide_small, guide_full) - expected).abs().max() < 0.5


def test_static_scene_is_steadier_than_frame_by_frame(colorizer, monkeypatch):
    predict = Colorizer.predict

    # a colour that follows the grain, so frame-by-frame colour changes every frame
    def flickering(self, luma, skin=None):
        ab, features = predict(self, luma, skin)
        detail = luma - torch.nn.functional.avg_pool2d(luma, 5, 1, 2, count_include_pad=False)
        return ab + 3 * detail.expand(-1, 2, -1, -1), features

    monkeypatch.setattr(Colorizer, "predict", flickering)
    clip = _grainy_gray_clip(10)
    indices = list(range(10))
    temporal = ColorizeStage(colorizer).process(clip, indices)
    single = ColorizeStage(colorizer, temporal=False).process(clip, indices)

    def change(x):
        ab = rgb_to_lab(x)[:, 1:]
        return (ab[1:] - ab[:-1]).abs().mean().item()
    assert change(temporal) < 0.5 * change(single)


def test_scene_cut_starts_afresh(colorizer):
    first, second = _grainy_gray_clip(4, seed=0), _grainy_gray_clip(4, seed=5)
    clip = torch.cat([first, second])
    continuous = ColorizeStage(colorizer).process(clip, list(range(8)), starts=[False] * 4 + [True] + [False] * 3)
    fresh = ColorizeStage(colorizer, temporal=False).process(second[:1], [4])
    assert torch.allclose(continuous[4], fresh[0], atol=1e-5)


@pytest.mark.slow
def test_segments_restart_as_a_resumed_job_would(colorizer):
    clip = _grainy_gray_clip(40)
    segments = range(0, 40, 20)
    whole = ColorizeStage(colorizer).process(clip, list(range(40)), segments=segments)
    start = 20 - ColorizeStage.context_frames
    resumed = ColorizeStage(colorizer).process(clip[start:], list(range(start, 40)), segments=segments)
    assert torch.equal(whole[20:], resumed[20 - start:])


def test_reference_frame_of_the_film_is_laid_onto_it(colorizer, tmp_path):
    import cv2

    coloured = _scene(3)
    reference = tmp_path / "frame-5.png"
    rgb = (coloured[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    cv2.imwrite(str(reference), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    gray = lightness(coloured)
    clip = torch.cat([_grainy_gray_clip(5, seed=8), rgb_to_gray(coloured)])
    references = References(colorizer, (reference,))
    from lumiere.stages.colorize import work_lightness

    size = colorizer.work_size(128, 96)
    frames = [(i, work_lightness((clip[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), size))
              for i in range(6)]
    assert references.locate(frames).keyframes == {5: 0}
    out = ColorizeStage(colorizer, references=references).process(clip, list(range(6)))
    difference = ciede2000(rgb_to_lab(out[5:]), rgb_to_lab(coloured))
    assert difference.mean() < 4 and gray.shape[0] == 1


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    from lumiere.cielab import with_chroma

    luma = lightness(rgb)
    return with_chroma(luma, torch.zeros(1, 2, *luma.shape[-2:]))


def test_exception(tiny_colorizer):
    from lumiere.errors import InputError

    with pytest.raises(InputError, match="render_size"):
        make_colorizer(ColorizeSettings(model=str(tiny_colorizer), render_size=8), Runners(RunnerSettings()))
    with pytest.raises(InputError, match="saturation"):
        make_colorizer(ColorizeSettings(model=str(tiny_colorizer), saturation=-1), Runners(RunnerSettings()))
    colorizer = make_colorizer(ColorizeSettings(model=str(tiny_colorizer), render_size=64), Runners(RunnerSettings()))
    with pytest.raises(InputError, match="reference not found"):
        References(colorizer, ("missing.png",))
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"):
        ColorizeStage(colorizer).process(torch.rand(1, 1, 32, 32), [0])


def test_colour_moves_with_the_object(colorizer, monkeypatch):
    # A bright square crosses a dark field; the stub network calls bright things red only in the first frame,
    # so in later frames red can only arrive by being carried along the flow: it must sit on the square.
    predict = Colorizer.predict
    calls = []

    def first_frame_only(self, luma, skin=None):
        ab, features = predict(self, luma, skin)
        red = torch.stack([(luma[:, 0] > 50).float() * 60, torch.zeros_like(luma[:, 0])], dim=1)
        calls.append(1)
        return (red if len(calls) == 1 else torch.zeros_like(ab)), features

    monkeypatch.setattr(Colorizer, "predict", first_frame_only)
    frames = torch.full((4, 3, 96, 128), 0.1)
    for t in range(4):
        frames[t, :, 30:62, 20 + 6 * t:52 + 6 * t] = 0.9
    items = ((FrameInfo(t, t), frames[t]) for t in range(4))
    outputs = [image for _, image in ColorizeStage(colorizer).stream(items)]
    a = rgb_to_lab(outputs[3][None])[0, 1]
    on_square, behind = a[38:54, 46:66].mean().item(), a[38:54, 20:30].mean().item()
    assert on_square > 10 and behind < on_square / 3


def test_sure_colour_is_bold_a_guess_is_calm():
    spread = ColorizeSettings().unsure_spread
    gain = colour_gain(torch.tensor([0.0, spread, 100.0]), 0.6, 3.3, spread)
    assert gain[0] == pytest.approx(3.3) and gain[2] == pytest.approx(0.6, abs=1e-3)
    assert 0.6 < gain[1] < 3.3


def test_each_colorizer_carries_its_colour_gain(tmp_path):
    """A file's own (calm, bold) decodes it; one from before colorizers carried a gain gets ColorNet's; a
    setting overrides either."""
    network = ColorNet(ColorNetConfig(width=8)).eval()
    old = tmp_path / "old.safetensors"
    save_file({key: value for key, value in network.state_dict().items() if key != "colour_gain"}, str(old))
    network.colour_gain.copy_(torch.tensor([0.4, 1.6]))
    new = tmp_path / "new.safetensors"
    save_weights(network, new, {})
    runners = Runners(RunnerSettings("cpu"))
    assert make_colorizer(ColorizeSettings(model=str(old)), runners).gain == pytest.approx((0.6, 3.3))
    assert make_colorizer(ColorizeSettings(model=str(new)), runners).gain == pytest.approx((0.4, 1.6))
    assert make_colorizer(ColorizeSettings(model=str(new), bold=2.0), runners).gain == pytest.approx((0.4, 2.0))


def test_cardinality_colour_gain_choice():
    """Chosen from the grid; where the truth has no colour, every pair is colourful enough and the quietest is
    closest to it."""
    network = ColorNet(ColorNetConfig(width=8)).eval()
    with torch.no_grad():
        network.head.bias.copy_(torch.linspace(-3, 3, network.head.bias.numel()))  # a confident, coloured guess
    gray = torch.rand(1, 1, 64, 64).expand(2, 3, -1, -1)
    assert choose_colour_gain(network, gray) == min(GAIN_GRID)
    colourful = torch.rand(2, 3, 64, 64)
    assert choose_colour_gain(network, colourful) in GAIN_GRID


def test_exception_colour_gain_choice():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        choose_colour_gain(ColorNet(ColorNetConfig(width=8)), torch.rand(1, 1, 64, 64))


def test_blotch_without_a_lightness_edge_melts_one_on_an_edge_stays():
    flat = torch.full((1, 1, 64, 64), 50.0)
    ab = torch.zeros(1, 2, 64, 64)
    ab[..., 28:36, 28:36] = 40.0  # an isolated patch of colour
    edged = flat.clone()
    edged[..., 28:36, 28:36] = 80.0  # the same patch, on something lighter
    on_flat = guided_filter(ab, flat, 8, 25.0)[..., 30:34, 30:34].mean()
    on_edge = guided_filter(ab, edged, 8, 25.0)[..., 30:34, 30:34].mean()
    assert on_flat < 0.5 * 40 < 0.8 * 40 < on_edge
