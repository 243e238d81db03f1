"""The film-damage model: each piece per clip, consistent in time, with per-frame variation where film has it."""

import pytest
import torch

from lumiere.degradations import functional as Fd
from lumiere.degradations.recipes import RECIPES, build_recipe
from lumiere.degradations.transforms import (
    ClipShape,
    Dust,
    FilmGrain,
    Flicker,
    GateWeave,
    H264Compression,
    LineScratches,
)


def gray_clip(frames=6, size=48, value=0.5):
    return torch.full((frames, 3, size, size), value)


def test_dust_lives_one_to_three_frames():
    dust = Dust(per_frame=(4.0, 4.0))
    params = dust.make_params(ClipShape(20, 3, 64, 64), torch.Generator().manual_seed(0))
    specks = params["specks"]
    assert len(specks) > 0
    keys = {}
    for frame, x, y, *_ in specks.tolist():
        keys.setdefault((round(x, 6), round(y, 6)), []).append(int(frame))
    spans = [max(v) - min(v) + 1 for v in keys.values()]
    assert min(spans) >= 1 and max(spans) <= 3
    assert all(sorted(v) == list(range(min(v), max(v) + 1)) for v in keys.values())


def test_scratches_persist_across_frames():
    scratches = LineScratches(count=(1, 1))
    clip = gray_clip(frames=12)
    out = scratches(clip, torch.Generator().manual_seed(2))
    touched = [(out[i] - clip[i]).abs().sum().item() > 0 for i in range(12)]
    assert sum(touched) >= 4
    first, last = touched.index(True), len(touched) - 1 - touched[::-1].index(True)
    assert all(touched[first:last + 1])  # one continuous run, not flashes


def test_broken_scratches_change_their_dashes_every_frame():
    scratches = LineScratches(count=(1, 1), broken=1.0, partial=1.0, halo=1.0)
    clip = gray_clip(frames=12, size=96)
    out = scratches(clip, torch.Generator().manual_seed(5))
    touched = [i for i in range(12) if not torch.equal(out[i], clip[i])]
    rows = [(out[i] - clip[i]).abs().amax(dim=(0, 2)) > 0 for i in touched]
    assert all(0 < r.sum() < 96 for r in rows)  # part of the height, in pieces
    assert not all(torch.equal(rows[0], r) for r in rows[1:])
    assert (out[touched[0]] < 0.5).any() and (out[touched[0]] > 0.5).any()  # the line and its fringe


def test_scratch_lifetime():
    out = LineScratches(count=(1, 1), lifetime=(1, 2))(gray_clip(frames=12), torch.Generator().manual_seed(3))
    assert 1 <= sum(not torch.equal(out[i], gray_clip(1)[0]) for i in range(12)) <= 2


def test_vertical_scratch_exception():
    with pytest.raises(ValueError, match=r"expected rows_shown of shape \(48,\), got \(40,\)"):
        Fd.vertical_scratch(gray_clip(1), 0.5, 1.5, 0.9, 0.8, rows_shown=torch.ones(40))


def test_grain_changes_every_frame_and_follows_luma():
    clip = torch.cat([gray_clip(3, value=0.5), gray_clip(3, value=0.02)])
    grain = FilmGrain(strength=(0.05, 0.05), grain_size=(1.5, 1.5), color_probability=0.0)
    out = grain(clip, torch.Generator().manual_seed(0))
    assert not torch.equal(out[0], out[1])
    mid, dark = (out[:3] - 0.5).std(), (out[3:] - 0.02).std()
    assert mid > 2 * dark  # grain is strongest in the mid-tones
    assert torch.allclose(out[0, 0], out[0, 1])  # monochrome grain in a B&W film


def test_flicker_is_per_frame_and_weave_shifts():
    out = Flicker(amplitude=(0.1, 0.1))(gray_clip(8), torch.Generator().manual_seed(1))
    means = out.mean(dim=(1, 2, 3))
    assert means.std() > 0.01
    ramp = torch.linspace(0, 1, 48).view(1, 1, 1, 48).expand(5, 3, 48, 48).contiguous()
    woven = GateWeave(amplitude=(3.0, 3.0))(ramp, torch.Generator().manual_seed(0))
    assert (woven[:, :, :, 10:-10] - ramp[:, :, :, 10:-10]).abs().amax(dim=(1, 2, 3)).max() > 0.02


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RECIPES))
@pytest.mark.parametrize("scale", [1, 2, 4])
def test_cardinality(name, scale):
    if name == "film-luma" and scale != 1:
        with pytest.raises(ValueError, match="film-luma degrades lightness for colorize"):
            build_recipe(name, scale)
        return
    out = build_recipe(name, scale)(torch.rand(4, 3, 64, 64), torch.Generator().manual_seed(scale))
    assert out.shape == (4, 3, 64 // scale, 64 // scale)
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["film", "film-look"])
def test_window_by_window_equals_whole_clip(name):
    recipe = build_recipe(name, 2)
    clip = torch.rand(9, 3, 32, 32)
    for seed in range(6):
        params = recipe.make_params(ClipShape(*clip.shape), torch.Generator().manual_seed(seed))
        whole = recipe.transform(clip, params)
        parts = torch.cat([recipe.transform(clip[:4], params, 0), recipe.transform(clip[4:], params, 4)])
        uses_h264 = params["steps"][-2]["index"] == 1  # compression runs per window, like a re-encode
        assert uses_h264 or torch.equal(whole, parts)


def test_h264_round_trip_keeps_shape_and_odd_sizes():
    clip = torch.rand(3, 3, 33, 47)
    out = H264Compression(crf=(23, 23))(clip, torch.Generator())
    assert out.shape == clip.shape


def test_functional_exceptions():
    with pytest.raises(ValueError, match="radius must be positive"):
        Fd.disk_kernel(0)
    with pytest.raises(ValueError, match=r"expected shifts of shape \(2, 2\)"):
        Fd.translate(torch.rand(2, 3, 8, 8), torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"):
        Fd.h264(torch.rand(2, 1, 8, 8), 20)
