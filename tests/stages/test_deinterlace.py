"""Deinterlacing (bwdif) and inverse telecine, on clips interlaced here from progressive frames: the truth is known."""

from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from lumiere.errors import InputError, OptionError
from lumiere.io.reader import FrameInfo, open_source
from lumiere.jobs import restore
from lumiere.ops import array_to_tensor
from lumiere.output import EncodeRequest
from lumiere.plan import settings_from_options
from lumiere.stages.deinterlace import DeinterlaceSettings, DeinterlaceStage, InverseTelecineStage

from ..conftest import decode_all, run_cli

TFF = 2  # FFmpeg's AV_FIELD_TT: top field coded and shown first


def _panning(frames: int, height: int = 48, width: int = 64, step: int = 3) -> torch.Tensor:
    """(frames, 3, H, W): a smooth colour texture moving `step` pixels a frame, right to left."""
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, height // 6, (width + step * frames) // 6 + 1, generator=generator)
    wide = torch.nn.functional.interpolate(coarse, size=(height, coarse.shape[-1] * 6), mode="bicubic",
                                           align_corners=False).clamp(0, 1)[0]
    return torch.stack([wide[:, :, step * i:step * i + width] for i in range(frames)])


def _weave(top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor:
    """The top field (even lines) of one picture with the bottom field (odd lines) of another."""
    woven = top.clone()
    woven[..., 1::2, :] = bottom[..., 1::2, :]
    return woven


def _interlaced(progressive: torch.Tensor) -> torch.Tensor:
    """Frame k: the top field of progressive frame 2k, the bottom field of 2k + 1 (top field first)."""
    return _weave(progressive[0::2], progressive[1::2])


def _telecined(film: torch.Tensor) -> torch.Tensor:
    """3:2 pulldown of a whole number of 4-frame cycles: A B B/C C/D D, top fields first."""
    video = []
    for a, b, c, d in film.view(-1, 4, *film.shape[1:]):
        video += [a, b, _weave(b, c), _weave(c, d), d]
    return torch.stack(video)


def _run(stage, clip: torch.Tensor, start: int = 0, segments=()) -> list:
    items = ((FrameInfo(i, i, 1), clip[i]) for i in range(start, clip.shape[0]))
    with torch.inference_mode():
        return list(stage.stream(items, segments=segments))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return (10 * torch.log10(1 / ((a.double() - b.double()) ** 2).mean())).item()


def _write(path, clip: torch.Tensor, field_order: int | None = None, rate: Fraction = Fraction(12)):
    """A lossless (FFV1) film of the clip, its stream marked with `field_order` (FFmpeg's AVFieldOrder)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=rate)
        stream.width, stream.height, stream.pix_fmt = clip.shape[-1], clip.shape[-2], "bgr0"
        if field_order is not None:
            stream.codec_context.field_order = field_order
        for index, image in enumerate(clip):
            pixels = (image.permute(1, 2, 0) * 255).round().byte().numpy()
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _decoded(path) -> torch.Tensor:
    return torch.stack([array_to_tensor(rgb) for rgb in decode_all(path)])


def test_smoke():
    progressive = _panning(16)
    woven, truth = _interlaced(progressive), progressive[0::2]
    out = _run(DeinterlaceStage("tff"), woven)
    assert all(image.shape == woven[0].shape and image.dtype == woven.dtype for _, image in out)
    deinterlaced = np.mean([_psnr(image, truth[k]) for k, (_, image) in enumerate(out)])
    combed = np.mean([_psnr(woven[k], truth[k]) for k in range(len(woven))])
    assert deinterlaced > combed + 10, (deinterlaced, combed)


@pytest.mark.parametrize("levels", [255, 65535], ids=["8-bit", "16-bit"])
def test_a_still_picture_passes_unchanged(levels):
    still = (_panning(1)[0] * levels).round() / levels
    out = _run(DeinterlaceStage(), still.expand(5, -1, -1, -1))
    # the film's first frame has no frame before it: bwdif fills its other field from its own lines
    assert all(torch.equal(image, still) for _, image in out[1:])


def test_inverse_telecine_recovers_the_film_frames():
    film = _panning(16, step=4)
    out = _run(InverseTelecineStage("tff"), _telecined(film))
    assert len(out) == 16
    assert all(torch.equal(image, film[k]) for k, (_, image) in enumerate(out))


def test_cardinality():
    progressive = _panning(20)
    out = _run(DeinterlaceStage(), _interlaced(progressive))
    assert [frame.index for frame, _ in out] == list(range(10))
    stage = InverseTelecineStage()
    out = _run(stage, _telecined(progressive))  # 20 film frames in 25 video frames
    assert [frame.pts for frame, _ in out] == list(range(20))
    assert len({frame.index // 5 for frame, _ in out}) == 5
    assert stage.output_timing(Fraction(30000, 1001), Fraction(1, 30000)) == (Fraction(24000, 1001),
                                                                               Fraction(1001, 24000))
    assert DeinterlaceStage().output_timing(Fraction(25), Fraction(1, 25)) == (Fraction(25), Fraction(1, 25))


def test_exception():
    with pytest.raises(InputError, match="field order must be tff or bff, got 'top'"):
        DeinterlaceStage("top")
    with pytest.raises(InputError, match="field order"):
        InverseTelecineStage("")
    with pytest.raises(OptionError, match="^deinterlace must be one of auto, on, off, ivtc, got 'maybe'"):
        DeinterlaceSettings.from_options({"deinterlace": "maybe"})
    clip = _panning(3)
    items = iter([(FrameInfo(1, 1, 1), clip[1]), (FrameInfo(0, 0, 1), clip[0])])
    with pytest.raises(ValueError, match="in order"):
        list(DeinterlaceStage().stream(items))


@pytest.mark.parametrize("make_stage, make_clip", [(DeinterlaceStage, _interlaced),
                                                   (InverseTelecineStage, _telecined)], ids=["bwdif", "ivtc"])
def test_resumed_stream_equals_uninterrupted(make_stage, make_clip):
    clip = make_clip(_panning(32))
    segments = range(0, len(clip), 7)
    whole = {frame.index: (frame, image) for frame, image in _run(make_stage(), clip, segments=segments)}
    for start in (7, 14):
        stage = make_stage()
        resumed = _run(stage, clip, max(0, start - stage.context_frames), segments)
        resumed = {frame.index: (frame, image) for frame, image in resumed if frame.index >= start}
        assert resumed.keys() == {index for index in whole if index >= start}
        assert all(resumed[i][0] == whole[i][0] and torch.equal(resumed[i][1], whole[i][1]) for i in resumed)


def test_auto_follows_the_streams_field_order(tmp_path):
    progressive = _panning(16)
    woven = _interlaced(progressive)
    interlaced, plain = _write(tmp_path / "interlaced.mkv", woven, TFF), _write(tmp_path / "plain.mkv", woven)
    assert open_source(interlaced).info.field_order == "tff"
    assert open_source(plain).info.field_order in ("progressive", "unknown")
    for src, deinterlaced in ((interlaced, True), (plain, False)):
        auto, off = tmp_path / f"{src.stem}-auto.mkv", tmp_path / f"{src.stem}-off.mkv"
        restore(src, auto, *settings_from_options({"scale": 1}), encode=EncodeRequest("ffv1"), show_progress=False)
        restore(src, off, *settings_from_options({"scale": 1, "deinterlace": "off"}), encode=EncodeRequest("ffv1"),
                show_progress=False)
        assert torch.equal(_decoded(auto), _decoded(off)) != deinterlaced
    truth = progressive[0::2]
    out = _decoded(tmp_path / "interlaced-auto.mkv")
    assert np.mean([_psnr(out[k], truth[k]) for k in range(8)]) > np.mean([_psnr(woven[k], truth[k])
                                                                          for k in range(8)]) + 10


@pytest.mark.parametrize("mode", ["on", "ivtc"])
def test_a_job_in_chunks_equals_one_in_one_chunk(tmp_path, mode):
    film = _panning(24)
    clip = _interlaced(film) if mode == "on" else _telecined(film)
    rate = Fraction(12) if mode == "on" else Fraction(30000, 1001)  # pulldown is what 29.97 fps video carries
    src = _write(tmp_path / "in.mkv", clip, rate=rate)
    outputs = []
    for chunk_frames in (4, 100):
        out = tmp_path / f"out-{chunk_frames}.mkv"
        restore(src, out, *settings_from_options({"scale": 1, "deinterlace": mode}), encode=EncodeRequest("ffv1"),
                chunk_frames=chunk_frames, show_progress=False)
        outputs.append(_decoded(out))
    assert len(outputs[0]) == (12 if mode == "on" else 24)
    assert torch.equal(outputs[0], outputs[1])
    if mode == "ivtc":
        with av.open(str(tmp_path / "out-4.mkv")) as container:
            assert container.streams.video[0].average_rate == rate * 4 / 5  # the film's own rate


@pytest.mark.slow
def test_cli_deinterlaces_a_film(tmp_path):
    progressive = _panning(16)
    woven = _interlaced(progressive)
    src, out = _write(tmp_path / "in.mkv", woven), tmp_path / "out.mkv"
    result = run_cli("restore", src, "-o", out, "--deinterlace", "on", "--scale", "1", "-q")
    assert result.returncode == 0, result.stderr
    restored, truth = _decoded(out), progressive[0::2]
    assert len(restored) == 8
    assert np.mean([_psnr(restored[k], truth[k]) for k in range(8)]) > np.mean([_psnr(woven[k], truth[k])
                                                                               for k in range(8)]) + 5
