"""Stabilize, deflicker, repair and interpolate on small synthetic clips whose truth is known."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from lumiere.degradations.functional import paint_specks, vertical_scratch
from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.errors import InputError
from lumiere.io.reader import FrameInfo
from lumiere.ops import luma
from lumiere.stages.deflicker import DeflickerSettings, DeflickerStage
from lumiere.stages.interpolate import FlowPair, InterpolateStage, interpolate
from lumiere.stages.repair import RepairSettings, brief_lines, repair_stage
from lumiere.stages.stabilize import StabilizeStage, shift_between


def _texture(height=96, width=128, seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 1, height // 8, width // 8, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic",
                                           align_corners=False).clamp(0, 1).expand(1, 3, -1, -1)[0]


def _panning(frames: int, step: float = 1.0, seed: int = 0) -> torch.Tensor:
    wide = _texture(96, 128 + int(step * frames) + 8, seed)
    return torch.stack([wide[:, :, int(round(step * i)):int(round(step * i)) + 128] for i in range(frames)])


def run(stage, clip: torch.Tensor, pts=None, starts=()) -> list:
    """`stage`'s output for `clip`, the frames in `starts` marked as beginning a new shot (as the shot finder
    marks them in a job)."""
    pts = pts or list(range(clip.shape[0]))
    items = ((FrameInfo(i, pts[i], 1, shot_start=i in starts), clip[i]) for i in range(clip.shape[0]))
    with torch.inference_mode():
        return list(stage.stream(items))


def test_deflicker_takes_out_pumping_and_keeps_a_fade():
    scene = _texture()
    gains = torch.tensor([1.0, 1.15, 0.85, 1.1, 0.9, 1.12, 0.88, 1.0, 1.1, 0.9, 1.05, 0.95])
    flickered = torch.stack([(scene * g).clamp(0, 1) for g in gains])
    out = torch.stack([image for _, image in run(DeflickerStage(DeflickerSettings(radius=4)), flickered)])
    def pumping(clip):
        return luma(clip).mean(dim=(1, 2, 3)).diff().abs().mean().item()
    assert out.shape == flickered.shape
    assert pumping(out) < 0.25 * pumping(flickered)
    fade = torch.stack([scene * (1 - 0.05 * i) for i in range(12)])
    kept = torch.stack([image for _, image in run(DeflickerStage(DeflickerSettings(radius=4)), fade)])
    assert (luma(kept).mean(dim=(1, 2, 3)) - luma(fade).mean(dim=(1, 2, 3))).abs().max() < 0.01


def test_deflicker_does_not_mix_shots():
    dark, bright = _texture(seed=1) * 0.3, _texture(seed=2)
    clip = torch.stack([dark] * 4 + [bright] * 4)
    out = torch.stack([image for _, image in run(DeflickerStage(DeflickerSettings(radius=3)), clip, starts={4})])
    assert torch.allclose(out, clip, atol=0.02)


def _error(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().sum().item()


def test_repair_removes_specks_and_leaves_clean_pictures():
    clip = _panning(5)
    specks = torch.tensor([[2, 0.45, 0.4, 2.5, 0.05, 1.0], [2, 0.7, 0.6, 2.0, 0.95, 0.9]])
    damaged = paint_specks(clip, specks)
    stage = repair_stage(RepairSettings(), Runners(RunnerSettings()))
    repaired = run(stage, damaged)[2][1]
    assert _error(repaired, clip[2]) < 0.25 * _error(damaged[2], clip[2])
    untouched = torch.stack([image for _, image in run(stage, clip)])
    assert ((untouched - clip).abs() * 255 > 2).float().mean() < 0.001


def test_repair_removes_a_scratch_that_stays_while_the_scene_pans():
    clip = _panning(5, step=2.0, seed=4)
    scratched = torch.stack([vertical_scratch(frame[None], 0.6 + 0.004 * t, 1.5, 0.95, 0.8, wobble=1.5,
                                              phase=0.4 * t)[0] for t, frame in enumerate(clip)])
    repaired = run(repair_stage(RepairSettings(), Runners(RunnerSettings())), scratched)[2][1]
    assert _error(repaired, clip[2]) < 0.5 * _error(scratched[2], clip[2])


def test_repair_keeps_a_real_line_that_moves_with_the_scene():
    clip = _panning(5, step=2.0, seed=4)
    wide_line = torch.stack([vertical_scratch(frame[None], (70 - 2.0 * t) / 127, 1.5, 0.95, 0.8)[0]
                             for t, frame in enumerate(clip)])
    out = run(repair_stage(RepairSettings(), Runners(RunnerSettings())), wide_line)[2][1]
    assert torch.equal(out[:, :, 62:74], wide_line[2][:, :, 62:74])


def _dashes(height: int, period: int, shown: int, top: int, bottom: int) -> torch.Tensor:
    rows = torch.arange(height)
    return ((rows % period < shown) & (rows >= top) & (rows < bottom)).float()


def test_repair_removes_a_brief_broken_scratch():
    clip = _panning(5, step=1.0, seed=3)
    scratched = clip.clone()  # in one frame only, over two thirds of the height, in dashes, with a dark fringe
    scratched[2] = vertical_scratch(clip[2][None], 0.45, 1.5, 0.95, 0.7, rows_shown=_dashes(96, 9, 6, 10, 80),
                                    halo=0.4)[0]
    repaired = run(repair_stage(RepairSettings(), Runners(RunnerSettings())), scratched)[2][1]
    assert _error(repaired, clip[2]) < 0.25 * _error(scratched[2], clip[2])


def _line_pieces(height=120, width=80, column=40, rows=range(10, 110, 12)) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    for top in rows:
        mask[top:top + 6, column] = True
    return mask


def test_brief_lines_smoke():
    pieces = _line_pieces()
    y = np.full(pieces.shape, 0.5, np.float32)
    y[:, 40] = 0.7  # the line is a ridge down the frame, faint between its pieces
    found = brief_lines(pieces, y > 0.6, y, np.ones_like(y), 0.025)
    assert found.shape == pieces.shape
    assert found[10:106, 40].all() and not found[:, :38].any() and not found[:, 43:].any()


def test_brief_lines_exception_cases_are_left():
    pieces = _line_pieces()
    flat = np.full(pieces.shape, 0.5, np.float32)
    ridge = flat.copy()
    ridge[:, 40] = 0.7
    step = flat.copy()
    step[:, 40:] = 0.7  # an edge the flow slipped along, not a line
    trusted = np.ones_like(flat)
    assert not brief_lines(pieces, pieces, step, trusted, 0.025).any()
    assert not brief_lines(pieces, pieces, ridge, 0.6 * trusted, 0.025).any()  # a figure on the move
    crowded = pieces | _line_pieces(column=34) | _line_pieces(column=47)
    assert not brief_lines(crowded, crowded, ridge, trusted, 0.025)[:, 40].any()
    short = _line_pieces(rows=range(10, 30, 6))  # a tenth of the height: detail, not a scratch
    assert not brief_lines(short, short, ridge, trusted, 0.025).any()


def test_repair_keeps_a_fast_moving_object():
    clip = _texture().expand(5, -1, -1, -1).clone() * 0.5
    for t in range(5):  # a bright block leaping 20 px a frame: real, not dust
        clip[t, :, 30:46, 10 + 20 * t:26 + 20 * t] = 0.95
    out = run(repair_stage(RepairSettings(), Runners(RunnerSettings())), clip)[2][1]
    assert (out[:, 30:46, 50:66] - clip[2][:, 30:46, 50:66]).abs().mean() < 0.05


def test_repair_strength_zero_changes_nothing():
    damaged = paint_specks(_panning(5), torch.tensor([[2, 0.45, 0.4, 2.5, 0.05, 1.0]]))
    stage = repair_stage(RepairSettings(strength=0.0), Runners(RunnerSettings()))
    out = torch.stack([image for _, image in run(stage, damaged)])
    assert torch.equal(out, damaged)


def test_repair_exception():
    with pytest.raises(InputError, match="between 0 and 1"):
        repair_stage(RepairSettings(strength=1.5), Runners(RunnerSettings()))


def test_stabilize_removes_weave_keeps_pan():
    generator = np.random.default_rng(0)
    clip = _panning(24, step=2.0, seed=3)
    weave = generator.uniform(-3, 3, (24, 2))
    import cv2
    shaky = torch.stack([torch.from_numpy(cv2.warpAffine(frame.permute(1, 2, 0).numpy(),
                                                         np.float32([[1, 0, dx], [0, 1, dy]]), (128, 96),
                                                         borderMode=cv2.BORDER_REFLECT_101)).permute(2, 0, 1)
                         for frame, (dx, dy) in zip(clip, weave, strict=True)])
    steady = torch.stack([image for _, image in run(StabilizeStage(), shaky)])
    steps = np.array([shift_between(steady[i], steady[i + 1]) for i in range(4, 19)])
    assert abs(steps[:, 0].mean() + 2.0) < 0.3  # still panning 2 px a frame (content moves left)
    assert abs(steps[:, 1].mean()) < 0.3
    assert steps.std(axis=0).max() < 0.5  # the weave's steps spread about 2.4 px


def test_interpolate_timing_and_motion():
    clip = _panning(6, step=4.0)
    stage = InterpolateStage(Fraction(24), Fraction(1, 12))  # 12 fps in, 24 out
    out = run(stage, clip)
    assert [frame.pts for frame, _ in out] == list(range(12))
    assert [frame.index for frame, _ in out] == [i // 2 for i in range(12)]
    assert stage.output_timing(Fraction(12), Fraction(1, 12)) == (Fraction(24), Fraction(1, 24))
    import cv2
    middle = interpolate(clip[1], clip[3], 0.5, FlowPair(cv2.DISOpticalFlow_create(1), clip[1], clip[3]))
    inner = (slice(None), slice(8, -8), slice(16, -16))
    assert (middle[inner] - clip[2][inner]).abs().mean() < (0.5 * (clip[1] + clip[3]) - clip[2])[inner].abs().mean()


def test_interpolate_repeats_across_a_cut():
    clip = torch.stack([_texture(seed=5), _texture(seed=6)])
    out = run(InterpolateStage(Fraction(3), Fraction(1)), clip, starts={1})  # 1 fps in, 3 out
    images = [image for _, image in out]
    assert torch.equal(images[1], clip[0]) and torch.equal(images[2], clip[1])


def test_exception():
    """Settings made by a caller of the Python API are held to their options' bounds and choices when made."""
    from lumiere.stages.interpolate import InterpolateSettings
    from lumiere.stages.stabilize import StabilizeSettings

    with pytest.raises(InputError, match="deflicker must be between 0 and 1, got 2"):
        DeflickerSettings(strength=2)
    with pytest.raises(InputError, match="fps must be between 1 and 240"):
        InterpolateSettings(fps=Fraction(1000))
    with pytest.raises(InputError, match="borders must be one of fill, crop, got 'zoom'"):
        StabilizeSettings(borders="zoom")
    with pytest.raises(InputError, match="flow_scale must be one of"):
        InterpolateSettings(fps=Fraction(24), flow_scale=3.0)


def test_grain_level_measures_noise():
    from lumiere.stages.grain import grain_level

    flat = torch.full((3, 96, 128), 0.5)
    noisy = (flat + 0.03 * torch.randn(1, 96, 128, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert grain_level(flat) < 1e-6
    assert grain_level(noisy) == pytest.approx(0.03, rel=0.15)


def test_degrain_averages_grain_away():
    from lumiere.eval.metrics import psnr_y
    from lumiere.stages.grain import DegrainStage

    clean = _panning(5, step=1.0)
    generator = torch.Generator().manual_seed(1)
    grainy = (clean + 0.04 * torch.randn(5, 1, 96, 128, generator=generator)).clamp(0, 1)
    out = run(DegrainStage(), grainy)[2][1]
    assert psnr_y(out[None], clean[2:3]).item() > psnr_y(grainy[2:3], clean[2:3]).item() + 3


def test_regrain_is_fresh_every_frame_and_repeatable():
    from lumiere.stages.grain import RegrainStage

    clip = torch.full((3, 3, 32, 32), 0.5)
    first = [image for _, image in run(RegrainStage(0.03, 2.0), clip)]
    second = [image for _, image in run(RegrainStage(0.03, 2.0), clip)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not torch.equal(first[0], first[1])
    assert 0.02 < (first[0] - clip[0]).std() < 0.04
    assert torch.equal(run(RegrainStage(0.0, 2.0), clip)[0][1], clip[0])
