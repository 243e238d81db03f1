"""Face restoration: a randomly initialised RestoreFormer (spandrel's own architecture, a few channels wide) saved
as a user's file, on Kodak faces; the box tracking and smoothing on synthetic tracks whose truth is known."""


import av
import cv2
import numpy as np
import pytest
import torch
from spandrel import ModelLoader
from spandrel.architectures.GFPGAN import GFPGAN
from spandrel.architectures.RestoreFormer import RestoreFormer

from lumiere.engine.runner import ModelRunner, Runners, RunnerSettings
from lumiere.errors import ModelError, OptionError
from lumiere.faces import Face, find_faces
from lumiere.io.reader import FrameInfo
from lumiere.models.archs import REGISTRY
from lumiere.models.descriptor import LoadedModel, ModelDescriptor
from lumiere.models.loader import load_model, save_weights
from lumiere.ops import array_to_tensor, luma_u8
from lumiere.plan import settings_from_options
from lumiere.stages.face_restore import (
    FACE_SIZE,
    MAX_GAP,
    FaceRestoreSettings,
    FaceRestoreStage,
    crop_square,
    faces_at,
    link_tracks,
)

from ..conftest import data_path, run_cli

FP32 = RunnerSettings(device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def face_model(tmp_path_factory):
    """spandrel's RestoreFormer at its smallest: 32 channels, two levels, no attention; random weights."""
    torch.manual_seed(0)
    network = RestoreFormer(n_embed=16, embed_dim=32, ch=32, out_ch=3, ch_mult=(1, 1), num_res_blocks=1,
                            attn_resolutions=(16,), dropout=0.0, in_channels=3, resolution=512, z_channels=32,
                            double_z=False, enable_mid=False, head_size=8)
    path = tmp_path_factory.mktemp("faces") / "tiny-restoreformer.safetensors"
    save_weights(network, path, {})
    return path


@pytest.fixture(scope="module")
def face_stage(face_model):
    return lambda **kw: FaceRestoreStage(Runners(FP32).get(str(face_model), ("faces",)),
                                         FaceRestoreSettings(str(face_model), **kw))


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    """A 320x240 RGB picture: Kodak's portrait kodim04, shrunk, on the left of a faceless Kodak scene."""
    kodak = data_path("color", "kodak")
    scene = cv2.resize(cv2.imread(str(kodak / "kodim22.png"))[..., ::-1], (320, 240), interpolation=cv2.INTER_AREA)
    face = cv2.resize(cv2.imread(str(kodak / "kodim04.png"))[..., ::-1], (128, 192), interpolation=cv2.INTER_AREA)
    picture = scene.copy()
    picture[24:216, 16:144] = face
    return np.ascontiguousarray(picture)


def run(stage, clip: torch.Tensor, first: int = 0) -> list[torch.Tensor]:
    items = ((FrameInfo(first + i, first + i, 1), clip[i]) for i in range(clip.shape[0]))
    with torch.inference_mode():
        return [image for _, image in stage.stream(items)]


def _track(frames: int, noise: float, seed: int = 0) -> tuple[list[list[Face]], np.ndarray]:
    """One face walking right and growing, its Haar-like box jittering by `noise` px; and its true centres."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)
    truth = np.stack([100 + 1.5 * t, 80 + 0.5 * t, 60 + 0.3 * t], 1)  # centre x, centre y, side
    boxes = truth + rng.normal(0, noise, truth.shape) * [1, 1, 0.5]
    sightings = [[Face(x - s / 2, y - s / 2, s, s)] for x, y, s in boxes]
    return sightings, truth


def _centres(faces: list[Face]) -> np.ndarray:
    return np.array([[f.x + f.width / 2, f.y + f.height / 2] for f in faces])


@pytest.mark.slow
def test_smoke(face_stage, portrait):
    frame = array_to_tensor(portrait)
    faces = find_faces(luma_u8(frame))
    assert len(faces) == 1
    [out] = run(face_stage(), frame[None])
    assert out.shape == frame.shape and out.dtype == frame.dtype
    left, top, side = crop_square(faces[0])
    near = torch.zeros(frame.shape[-2:], dtype=torch.bool)
    near[max(0, top):top + side, max(0, left):left + side] = True
    changed = (out - frame).abs().amax(0) > 1 / 255
    assert changed[near].float().mean() > 0.5  # a random network's face replaces the film's
    assert torch.equal(out[:, ~near], frame[:, ~near])  # and nothing beyond the crop moves


def test_a_frame_without_faces_is_unchanged(face_stage, portrait):
    frame = array_to_tensor(np.ascontiguousarray(portrait[:, 160:]))  # the scene alone
    assert find_faces(luma_u8(frame)) == []
    [out] = run(face_stage(), frame[None])
    assert torch.equal(out, frame)


@pytest.mark.slow
def test_gray_film_stays_gray(face_stage, portrait):
    gray = cv2.cvtColor(portrait, cv2.COLOR_RGB2GRAY)
    frame = array_to_tensor(np.repeat(gray[..., None], 3, axis=2))
    [out] = run(face_stage(), frame[None])
    assert not torch.equal(out, frame)
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


@pytest.mark.slow
def test_strength_blends(face_stage, portrait):
    frame = array_to_tensor(portrait)
    [full] = run(face_stage(strength=1.0), frame[None])
    [half] = run(face_stage(strength=0.5), frame[None])
    [none] = run(face_stage(strength=0.0), frame[None])
    assert torch.equal(none, frame)
    assert torch.allclose(half, (full + frame) / 2, atol=2e-6)


def test_smoothing_reduces_jitter():
    sightings, truth = _track(40, noise=3.0)
    raw = _centres([faces[0] for faces in sightings]) - truth[:, :2]
    radius = 4
    smooth = _centres([faces_at(sightings[max(0, i - radius):i + radius + 1], min(i, radius), radius)[0]
                       for i in range(40)]) - truth[:, :2]
    raw_rms, smooth_rms = np.sqrt((raw**2).mean()), np.sqrt((smooth**2).mean())
    assert smooth_rms < raw_rms / 2
    # steady motion is followed without lag: no noise, no error
    exact, truth = _track(20, noise=0.0)
    follow = _centres([faces_at(exact[max(0, i - radius):i + radius + 1], min(i, radius), radius)[0]
                       for i in range(20)])
    np.testing.assert_allclose(follow, truth[:, :2], atol=1e-6)


def test_tracks_bridge_short_gaps_and_drop_single_sightings():
    sightings, _ = _track(9, noise=0.0)
    sightings[4] = []  # missed in the middle frame
    sightings[2].append(Face(300, 300, 40, 40))  # a one-frame false face
    assert len(faces_at(sightings, 4, 4)) == 1  # the face is still restored where it was missed
    assert len(faces_at(sightings, 2, 4)) == 1  # the one-off is not
    far = [faces if i < 2 or i > 2 + MAX_GAP else [] for i, faces in enumerate(_track(9, noise=0.0)[0])]
    assert faces_at(far, 4, 4) == []  # missed too long: the face left
    two = [[Face(0, 0, 50, 50), Face(200, 0, 50, 50)] for _ in range(5)]
    assert [len(track) for track in link_tracks(two)] == [5, 5]


@pytest.mark.slow
def test_resumed_equals_uninterrupted(face_stage, portrait):
    wide = np.concatenate([portrait, portrait[:, ::-1]], axis=1)
    clip = torch.stack([array_to_tensor(np.ascontiguousarray(wide[:, 2 * i:2 * i + 320])) for i in range(6)])
    stage = face_stage(radius=2)
    whole = run(stage, clip)
    start = 3
    first = start - stage.context_frames
    resumed = run(face_stage(radius=2), clip[first:], first)[start - first:]
    assert len(resumed) == 6 - start
    assert all(torch.equal(a, b) for a, b in zip(whole[start:], resumed, strict=True))
    assert not torch.equal(whole[start], clip[start])


def test_cardinality(face_stage):
    stage = face_stage(radius=3)
    assert (stage.context_frames, stage.lookahead) == (3, 3)
    assert stage.output_size(320, 240) == (320, 240)
    clip = torch.rand(5, 3, 48, 64)
    assert len(run(stage, clip)) == 5


def test_exception(face_model, tiny_models):
    with pytest.raises(OptionError, match="faces_strength"):
        settings_from_options({"faces_strength": 0.5})
    with pytest.raises(OptionError, match="faces_strength"):
        FaceRestoreStage(Runners(FP32).get(str(face_model), ("faces",)), FaceRestoreSettings(str(face_model), 2.0))
    with pytest.raises(ModelError, match="is an upscaler .*not a face-restoration network"):
        load_model(str(tiny_models[2]), ("faces",))
    with pytest.raises(ModelError, match="is a face-restoration network .*not an upscaler"):
        load_model(str(face_model), ("upscale", "restore"))
    [settings] = [s for s in settings_from_options({"faces": str(face_model)}) if isinstance(s, FaceRestoreSettings)]
    assert settings == FaceRestoreSettings(str(face_model)) and settings.files(None)[0] == face_model


@pytest.mark.slow
def test_gfpgan_runs_on_a_face_crop():
    """spandrel's GFPGAN (v1.3/v1.4's clean architecture) is recognised by its keys and run as the stage runs
    it: [-1, 1] in, the first output out, the same face twice."""
    torch.manual_seed(0)
    network = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                     fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    loaded = ModelLoader(registry=REGISTRY).load_from_state_dict(network.state_dict())
    descriptor = ModelDescriptor.from_spandrel(loaded, "gfpgan", None)
    assert (descriptor.role, descriptor.architecture) == ("faces", "GFPGAN")
    stage = FaceRestoreStage(ModelRunner(LoadedModel(descriptor, loaded.model.eval()), FP32),
                             FaceRestoreSettings("gfpgan"))
    crop = torch.rand(1, 3, FACE_SIZE, FACE_SIZE)
    first, second = (stage.runner.run(stage.forward, crop) for _ in range(2))
    assert first.shape == crop.shape and torch.equal(first, second)


def _write_clip(path, pictures: list[np.ndarray], fps: int = 12):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = pictures[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for picture in pictures:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode(None))
    return path


@pytest.mark.slow
def test_cli(face_model, tiny_models, portrait, tmp_path):
    clip = _write_clip(tmp_path / "portrait.mp4", [portrait] * 3)
    out = tmp_path / "out.mp4"

    def lumiere(*args):
        return run_cli("restore", clip, *args, "-q")

    done = lumiere("-o", out, "--faces", face_model, "--scale", "1")
    assert done.returncode == 0, done.stderr
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3
    for args, said in ((("--faces", tiny_models[2]), "not a face-restoration network"),
                       (("--model", face_model), "is a face-restoration network")):
        refused = lumiere("-o", tmp_path / "refused.mp4", "--scale", "1", *args)
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and said in lines[0], refused.stderr
