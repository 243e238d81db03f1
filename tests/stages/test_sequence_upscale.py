"""The recurrent upscaler's stage: windows at fixed frame numbers, shots kept apart, a chunked job equal to one pass."""

import numpy as np
import pytest
import torch

from lumiere.engine.runner import ModelRunner, RunnerSettings
from lumiere.io.reader import FrameInfo
from lumiere.jobs import restore
from lumiere.models.basicvsr import BasicVSR, BasicVSRConfig
from lumiere.models.loader import load_model, save_weights
from lumiere.ops import remove_lattice
from lumiere.output import EncodeRequest
from lumiere.plan import settings_from_options
from lumiere.stages.upscale import SequenceUpscaleStage, UpscalerChoice, UpscaleSettings, sequence_window

from ..conftest import run_cli
from .test_video_upscale import _decoded, _panning_clip, _write


@pytest.fixture(scope="module")
def tiny_sequence_model(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny-basicvsr.safetensors"
    save_weights(BasicVSR(BasicVSRConfig(num_feat=8, num_block=1)).eval(), path, {})
    return path


def _stage(path, window=4, overlap=2, out_size=(128, 128), lattice_period=0):
    runner = ModelRunner(load_model(str(path)), RunnerSettings("cpu", precision="fp32", tile=0))
    return SequenceUpscaleStage(runner, (32, 32), out_size, lattice_period, window=window, overlap=overlap)


def _stream(stage, clip, first=0, segments=(), starts=()):
    items = ((FrameInfo(i, i, 1, shot_start=i in starts), clip[i]) for i in range(first, len(clip)))
    return {frame.index: image for frame, image in stage.stream(items, segments=segments)}


def test_smoke(tiny_sequence_model):
    stage = _stage(tiny_sequence_model)
    assert (stage.context_frames, stage.lookahead) == (5, 5)
    out = _stream(stage, _panning_clip(6))
    assert sorted(out) == list(range(6)) and out[3].shape == (3, 128, 128)


@pytest.mark.slow
@pytest.mark.parametrize(("frames", "out_size", "shape"), [(1, (128, 128), (3, 128, 128)),
                                                          (9, (64, 64), (3, 64, 64)),
                                                          (7, (200, 160), (3, 160, 200))])
def test_cardinality(tiny_sequence_model, frames, out_size, shape):
    out = _stream(_stage(tiny_sequence_model, out_size=out_size), _panning_clip(frames))
    assert sorted(out) == list(range(frames)) and all(image.shape == shape for image in out.values())


def test_the_detailed_look_is_cleaned_of_its_lattice(tiny_sequence_model):
    clip = _panning_clip(4)  # one window: the stage runs the network once over all of it
    stage = _stage(tiny_sequence_model, lattice_period=4)
    out = _stream(stage, clip)
    with torch.inference_mode():
        expected = remove_lattice(stage.runner(clip), 4).clamp(0, 1)
    assert all(torch.allclose(out[k], expected[k]) for k in range(4))
    assert UpscalerChoice("basicvsr-film-x4", "basicvsr-film-x4-detailed", 0.7).lattice_period == 4
    assert UpscalerChoice("basicvsr-film-x4").lattice_period == 0


def test_exception(tiny_sequence_model, tiny_models):
    runner = ModelRunner(load_model(str(tiny_models[4])), RunnerSettings("cpu", precision="fp32", tile=0))
    with pytest.raises(ValueError, match="expected a recurrent video upscaler, got tiny-x4"):
        SequenceUpscaleStage(runner, (32, 32), (128, 128))
    with pytest.raises(ValueError, match="frames must arrive in order, got 2 then 1"):
        items = [(FrameInfo(i, i, 1), torch.rand(3, 32, 32)) for i in (0, 2, 1)]
        list(_stage(tiny_sequence_model).stream(iter(items)))


def test_windows_lie_at_fixed_frame_numbers():
    assert sequence_window(0, 15, 5) == (range(0, 15), range(0, 20))
    assert sequence_window(29, 15, 5) == (range(15, 30), range(10, 35))


def test_every_frame_of_a_window_sees_the_whole_window(tiny_sequence_model):
    clip = _panning_clip(4)
    whole = _stream(_stage(tiny_sequence_model, overlap=0), clip)
    alone = _stream(_stage(tiny_sequence_model, overlap=0), clip[:1])
    assert (whole[0] - alone[0]).abs().mean() > 1e-4  # the frames after it changed the first frame


def test_frames_across_a_cut_are_not_used(tiny_sequence_model):
    pan, other = _panning_clip(6), 1 - _panning_clip(3, seed=1).flip(-1)
    stage = _stage(tiny_sequence_model, window=8)
    out = _stream(stage, torch.cat([pan[:3], other]), starts={3})
    first_shot, second_shot = _stream(stage, pan[:3]), _stream(stage, other)
    for k in range(3):
        torch.testing.assert_close(out[k], first_shot[k])
        torch.testing.assert_close(out[3 + k], second_shot[k])
    assert (out[2] - _stream(stage, pan)[2]).abs().mean() > 1e-4  # the pan's next frames would have been used


@pytest.mark.slow
@pytest.mark.parametrize("start", [3, 4, 6, 9])
def test_resumed_stream_equals_uninterrupted(tiny_sequence_model, start):
    stage = _stage(tiny_sequence_model)
    clip = _panning_clip(12)
    whole = _stream(stage, clip)
    resumed = _stream(stage, clip, max(0, start - stage.context_frames), segments=(0, start))
    assert all(torch.equal(whole[i], resumed[i]) for i in range(start, 12))


@pytest.mark.slow
def test_a_job_in_chunks_equals_one_in_one_chunk(tmp_path, tiny_sequence_model):
    src = _write(tmp_path / "in.mkv", _panning_clip(10))
    outputs = []
    for chunk_frames in (3, 100):
        out = tmp_path / f"out-{chunk_frames}.mkv"
        restore(src, out, *settings_from_options({"scale": 4, "model": str(tiny_sequence_model)}),
                encode=EncodeRequest("ffv1"), chunk_frames=chunk_frames, show_progress=False)
        outputs.append(_decoded(out))
    assert outputs[0].shape == (10, 128, 128, 3)
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_clean_films_get_the_recurrent_network():
    assert UpscaleSettings(scale=4, kind="clean").choice((64, 48), (256, 192), video=True).name == \
        "basicvsr-clean-x4"
    assert UpscaleSettings(scale=2, kind="clean").choice((64, 48), (128, 96), video=True).name == \
        "basicvsr-clean-x4"
    assert UpscaleSettings(scale=4, kind="clean", quality="high").choice((64, 48), (256, 192),
                                                                         video=True).name == "basicvsr-clean-x4"
    assert UpscaleSettings(scale=4, kind="film").choice((64, 48), (256, 192), video=True).name == "video-x4"


def test_damaged_films_get_the_film_fine_tune_at_quality_high():
    settings = UpscaleSettings(scale=4, kind="film", quality="high")
    assert settings.choice((64, 48), (256, 192), video=True).name == "basicvsr-film-x4"
    assert settings.choice((64, 48), (256, 192)).name == "film-x4-high"  # a still


@pytest.mark.slow
def test_cli_a_clean_film_is_enlarged_by_the_recurrent_network_and_says_so(tmp_path):
    src = _write(tmp_path / "in.mkv", _panning_clip(5, side=40))
    out = tmp_path / "out.mkv"
    result = run_cli("restore", src, "-o", out, "--scale", "2", "--model", "basicvsr-clean-x4")
    assert result.returncode == 0, result.stderr
    assert "basicvsr-clean-x4 (BasicVSR, cpu fp32)" in result.stderr and _decoded(out).shape == (5, 80, 80, 3)


@pytest.mark.slow
def test_cli_quality_high_enlarges_a_film_by_a_recurrent_network_and_warns_on_a_cpu(tmp_path):
    src = _write(tmp_path / "in.mkv", _panning_clip(4, side=32))
    result = run_cli("restore", src, "-o", tmp_path / "out.mkv", "--scale", "4", "--quality", "high")
    assert result.returncode == 0, result.stderr
    assert "note: the high-quality network (basicvsr-" in result.stderr  # film or clean, as the detector reads it
    assert _decoded(tmp_path / "out.mkv").shape == (4, 128, 128, 3)


@pytest.mark.slow
def test_cli_quality_high_detailed_blends_the_recurrent_network_towards_its_adversarial_fine_tune(tmp_path):
    src = _write(tmp_path / "in.mkv", _panning_clip(4, side=32))
    result = run_cli("restore", src, "-o", tmp_path / "out.mkv", "--scale", "4", "--quality", "high",
                     "--look", "detailed")
    assert result.returncode == 0, result.stderr
    assert "basicvsr-film-x4 and basicvsr-film-x4-detailed blended 0.30:0.70" in result.stderr
    assert _decoded(tmp_path / "out.mkv").shape == (4, 128, 128, 3)
