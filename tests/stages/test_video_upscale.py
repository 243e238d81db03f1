"""The multi-frame upscale stage: each frame from itself and its neighbours of the same shot; exact resume."""

import av
import cv2
import numpy as np
import pytest
import torch

from lumiere.engine.runner import ModelRunner, RunnerSettings
from lumiere.errors import OptionError
from lumiere.io.reader import FrameInfo
from lumiere.jobs import restore
from lumiere.models.loader import load_model, save_weights
from lumiere.models.multiframe import MultiFrameConfig, MultiFrameNet
from lumiere.output import EncodeRequest
from lumiere.plan import settings_from_options
from lumiere.stages.upscale import UpscaleSettings, VideoUpscaleStage, choose_upscaler

from ..conftest import run_cli

TINY = MultiFrameConfig(neighbours=1, num_feat=8, num_conv=2, scale=2)


@pytest.fixture(scope="module")
def tiny_video_model(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny-video-x2.safetensors"
    save_weights(MultiFrameNet(TINY).eval(), path, {})
    return path


def _runner(path, precision="fp32"):
    return ModelRunner(load_model(str(path)), RunnerSettings("cpu", precision=precision, tile=0))


def _panning_clip(frames: int, shift: int = 1, side: int = 32, seed: int = 0) -> torch.Tensor:
    """A smooth random picture seen through a camera moving `shift` px right per frame."""
    generator = torch.Generator().manual_seed(seed)
    picture = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12 + frames, generator=generator),
                                              size=(side, side + shift * frames), mode="bicubic").clamp(0, 1)[0]
    return torch.stack([picture[:, :, shift * t:shift * t + side] for t in range(frames)])


def _stream(stage, clip, first=0, starts=()):
    items = ((FrameInfo(i, i, 1, shot_start=i in starts), clip[i]) for i in range(first, len(clip)))
    return {frame.index: image for frame, image in stage.stream(items)}


def test_smoke(tiny_video_model):
    stage = VideoUpscaleStage(_runner(tiny_video_model), (32, 32), (64, 64))
    assert (stage.context_frames, stage.lookahead) == (1, 1)
    out = _stream(stage, _panning_clip(3))
    assert sorted(out) == [0, 1, 2] and out[1].shape == (3, 64, 64)


@pytest.mark.parametrize(("out_size", "shape"), [((64, 64), (3, 64, 64)), ((48, 40), (3, 40, 48))])
def test_cardinality(tiny_video_model, out_size, shape):
    out = _stream(VideoUpscaleStage(_runner(tiny_video_model), (32, 32), out_size), _panning_clip(4))
    assert len(out) == 4 and all(image.shape == shape for image in out.values())


def test_exception(tiny_models, tiny_video_model):
    with pytest.raises(ValueError, match="expected a multi-frame video upscaler, got tiny-x2"):
        VideoUpscaleStage(_runner(tiny_models[2]), (32, 32), (64, 64))
    with pytest.raises(OptionError, match="enlarges x2 once, and this asks for x4"):
        VideoUpscaleStage(_runner(tiny_video_model), (32, 32), (128, 128))


def test_neighbours_across_a_cut_are_not_used(tiny_video_model):
    stage = VideoUpscaleStage(_runner(tiny_video_model), (32, 32), (64, 64))
    pan, other = _panning_clip(6), 1 - _panning_clip(3, seed=1).flip(-1)
    out = _stream(stage, torch.cat([pan[:3], other]), starts={3})
    first_shot, second_shot = _stream(stage, pan[:3]), _stream(stage, other)
    for k in range(3):
        torch.testing.assert_close(out[k], first_shot[k])
        torch.testing.assert_close(out[3 + k], second_shot[k])
    assert (out[2] - _stream(stage, pan)[2]).abs().mean() > 1e-4  # the pan's next frame would have been used


def test_neighbours_change_the_frame(tiny_video_model):
    stage = VideoUpscaleStage(_runner(tiny_video_model), (32, 32), (64, 64))
    clip = _panning_clip(3)
    lone = _stream(stage, clip[1:2])[0]
    assert (_stream(stage, clip)[1] - lone).abs().mean() > 1e-4


def test_resumed_stream_equals_uninterrupted(tiny_video_model):
    stage = VideoUpscaleStage(_runner(tiny_video_model, "bf16"), (32, 32), (64, 64))
    clip = _panning_clip(8)
    whole = _stream(stage, clip)
    start = 5
    resumed = _stream(stage, clip, start - stage.context_frames)
    assert all(torch.equal(whole[i], resumed[i]) for i in range(start, 8))


def test_the_faithful_look_sees_neighbours_in_films_only():
    assert str(choose_upscaler(4, video=True)) == "video-x4"
    assert str(choose_upscaler(2, video=True)) == "video-x2"
    assert str(choose_upscaler(4)) == "film-x4"  # a still
    assert str(choose_upscaler(4, kind="clean", video=True)) == "basicvsr-clean-x4"  # every frame of the shot
    assert str(choose_upscaler(2, kind="clean", video=True)) == "basicvsr-clean-x4"
    assert str(choose_upscaler(4, "detailed", video=True)) == "film-x4 and film-x4-detailed blended 0.30:0.70"
    assert str(choose_upscaler(4, quality="high", video=True)) == "basicvsr-film-x4"  # the shot's frames
    assert str(choose_upscaler(4, "detailed", quality="high", video=True)) == \
        "basicvsr-film-x4 and basicvsr-film-x4-detailed blended 0.30:0.70"
    assert str(choose_upscaler(4, strength=1.0, kind="clean", quality="high", video=True)) == \
        "basicvsr-film-x4-detailed"
    assert str(choose_upscaler(4, quality="fast", video=True)) == "film-x4-fast"
    assert str(choose_upscaler(4, kind="clean", quality="fast", video=True)) == "film-x4-fast"
    assert str(choose_upscaler(4, kind="clean", quality="high", video=True)) == "basicvsr-clean-x4"
    assert str(choose_upscaler(4, quality="high")) == "film-x4-high"  # a still
    settings = UpscaleSettings(scale=4, kind="film")
    assert settings.choice((64, 48), (256, 192), video=True).name == "video-x4"


def _write(path, clip):
    """A lossless (FFV1) film of the clip."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=12)
        stream.width, stream.height, stream.pix_fmt = clip.shape[-1], clip.shape[-2], "bgr0"
        for index, image in enumerate(clip):
            frame = av.VideoFrame.from_ndarray((image.permute(1, 2, 0) * 255).round().byte().numpy(), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _decoded(path):
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.mark.slow
def test_a_job_in_chunks_equals_one_in_one_chunk(tmp_path, tiny_video_model):
    src = _write(tmp_path / "in.mkv", _panning_clip(10))
    outputs = []
    for chunk_frames in (3, 100):
        out = tmp_path / f"out-{chunk_frames}.mkv"
        restore(src, out, *settings_from_options({"scale": 2, "model": str(tiny_video_model)}),
                encode=EncodeRequest("ffv1"), chunk_frames=chunk_frames, show_progress=False)
        outputs.append(_decoded(out))
    assert outputs[0].shape == (10, 64, 64, 3)
    np.testing.assert_array_equal(outputs[0], outputs[1])


@pytest.mark.slow
def test_cli_films_get_the_multi_frame_network_and_stills_refuse_it(tmp_path, tiny_video_model):
    src = _write(tmp_path / "in.mkv", _panning_clip(4))
    out = tmp_path / "out.mkv"
    result = run_cli("restore", src, "-o", out, "--scale", "4", "--look", "faithful")
    assert result.returncode == 0, result.stderr
    assert "video-x4" in result.stderr and _decoded(out).shape == (4, 128, 128, 3)
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), (_panning_clip(1)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    result = run_cli("upscale", still, "--model", tiny_video_model)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "enlarges a film's frames from their neighbours; a still needs a single-frame model" in result.stderr
    assert not (tmp_path / "still-x2.png").exists() and not list(tmp_path.glob("still-*"))
