import pytest
import torch

from lumiere.errors import LumiereError, OptionError
from lumiere.models.basicvsr import BasicVSR, BasicVSRConfig
from lumiere.models.loader import load_model, save_weights
from lumiere.models.multiframe import input_channels
from lumiere.train.config import TrainConfig
from lumiere.train.loop import export_checkpoint, train
from lumiere.train.tasks import training_config
from lumiere.train.video import NEIGHBOURS, film_clip, film_sequence, picture_side, without_neighbours

from ..conftest import smooth_images


@pytest.fixture
def image_folder(tmp_path):
    return smooth_images(tmp_path / "images", count=2, side=96, detail=16)


def _config(tmp_path, folder, **overrides):
    values = dict(task="video", scale=2, data=[str(folder)], val=[str(folder)], val_images=2, val_crop=32,
                  output=str(tmp_path / "out.safetensors"), run_dir=str(tmp_path / "run"), num_feat=8, num_conv=2,
                  steps=3, batch=2, patch=8, val_every=3, checkpoint_every=3, seed=0, device="cpu", recipe="film",
                  gray_probability=0.5)
    values.update(overrides)
    return TrainConfig(**values)


def test_film_clip_is_an_aligned_input_and_its_clean_target():
    picture = torch.rand(3, picture_side(8, 4), picture_side(8, 4))
    x, target = film_clip(picture, 4, torch.Generator().manual_seed(0))
    again, _ = film_clip(picture, 4, torch.Generator().manual_seed(0))
    assert x.shape == (input_channels(NEIGHBOURS), 8, 8) and target.shape == (3, 32, 32)
    assert torch.equal(x, again)  # from the generator alone, so a resumed run sees the same clips
    assert 0 <= x.min() and x.max() <= 1


def test_film_clip_from_a_teacher_is_its_enlargement_of_the_middle_frame():
    picture = torch.rand(3, picture_side(8, 4), picture_side(8, 4))
    seen = []

    def teacher(frames):
        seen.append(frames)
        return torch.full((3, 4 * frames.shape[-2], 4 * frames.shape[-1]), 0.25)

    x, target = film_clip(picture, 4, torch.Generator().manual_seed(0), teacher=teacher)
    plain, _ = film_clip(picture, 4, torch.Generator().manual_seed(0))
    assert torch.equal(x, plain)  # the teacher draws nothing: the inputs, and a resumed run's, are unchanged
    assert seen[0].shape == (2 * NEIGHBOURS + 1, 3, 16, 16) and torch.equal(target, torch.full((3, 32, 32), 0.25))


def test_without_neighbours_leaves_the_centre_alone():
    x = torch.rand(input_channels(2), 4, 4)
    alone = without_neighbours(x, [True, False, False, True])
    assert torch.equal(alone[:3], x[6:9]) and torch.equal(alone[12:15], x[6:9])
    assert torch.equal(alone[3:12], x[3:12]) and torch.equal(alone[15], torch.zeros(4, 4))
    assert torch.equal(alone[16:18], x[16:18]) and torch.equal(alone[18], torch.zeros(4, 4))
    with pytest.raises(ValueError, match=r"expected a \(19, h, w\) input for 4 neighbours, got \(11, 4, 4\)"):
        without_neighbours(torch.rand(11, 4, 4), [True] * 4)


def test_trains_from_a_single_frame_network_and_exports(tmp_path, image_folder, tiny_models):
    result = train(_config(tmp_path, image_folder, init=str(tiny_models[2])), show_progress=False)
    assert result["steps"] == 3 and {"psnr", "psnr_alone"} <= result.keys()
    loaded = load_model(str(tmp_path / "out.safetensors"), roles=("video",))
    assert (loaded.descriptor.scale, loaded.descriptor.input_channels) == (2, input_channels(NEIGHBOURS))
    assert export_checkpoint(tmp_path / "run", tmp_path / "again.safetensors") == 3
    exported = load_model(str(tmp_path / "again.safetensors")).module.state_dict()
    assert all(torch.equal(value, exported[key]) for key, value in loaded.module.state_dict().items())


def test_learns_from_a_recurrent_teacher(tmp_path, tiny_models):
    image_folder = smooth_images(tmp_path / "images", count=2, side=128, detail=16)
    teacher = tmp_path / "tiny-basicvsr.safetensors"
    torch.manual_seed(0)
    save_weights(BasicVSR(BasicVSRConfig(num_feat=8, num_block=1)), teacher, {})
    config = _config(tmp_path, image_folder, scale=4, init=str(tiny_models[4]), teacher=str(teacher), batch=1,
                     val_crop=64)
    result = train(config, show_progress=False)
    assert result["steps"] == 3 and "psnr" in result  # validation stays against the clean frames
    assert load_model(str(tmp_path / "out.safetensors"), roles=("video",)).descriptor.scale == 4


def test_exception(tmp_path, image_folder, tiny_models):
    with pytest.raises(OptionError, match="teacher enlarges x4; scale 2 does not apply"):
        train(_config(tmp_path, image_folder, teacher="basicvsr-film-x4"), show_progress=False)
    with pytest.raises(LumiereError, match="teacher must be a recurrent network .*, got video-x4"):
        train(_config(tmp_path, image_folder, scale=4, init=str(tiny_models[4]), teacher="video-x4"),
              show_progress=False)
    with pytest.raises(OptionError, match="teacher is for video --arch compact, not video --arch basicvsr"):
        training_config("video", {"arch": "basicvsr", "teacher": "x", "data": ["x"], "output": "o.safetensors"})
    with pytest.raises(LumiereError, match="init model is x4, but scale is 2"):
        train(_config(tmp_path, image_folder, init=str(tiny_models[4])), show_progress=False)
    with pytest.raises(LumiereError, match="video draws its own film damage per frame; recipe bicubic"):
        train(_config(tmp_path / "b", image_folder, recipe="bicubic"), show_progress=False)


def test_film_sequence_is_a_damaged_clip_and_its_clean_frames():
    picture = torch.rand(3, picture_side(8, 4, 5), picture_side(8, 4, 5))
    degraded, clean = film_sequence(picture, 4, 5, torch.Generator().manual_seed(0))
    again, _ = film_sequence(picture, 4, 5, torch.Generator().manual_seed(0))
    assert degraded.shape == (5, 3, 8, 8) and clean.shape == (5, 3, 32, 32)
    assert torch.equal(degraded, again) and 0 <= degraded.min() and degraded.max() <= 1
    assert not torch.equal(clean[0], clean[-1])  # the camera moved


@pytest.mark.slow
def test_basicvsr_fine_tunes_with_its_flow_network_still_and_exports(tmp_path):
    image_folder = smooth_images(tmp_path / "images", count=2, side=128, detail=16)  # seven-frame clips need room
    init = tmp_path / "tiny-basicvsr.safetensors"
    torch.manual_seed(0)
    save_weights(BasicVSR(BasicVSRConfig(num_feat=8, num_block=1)), init, {})
    config = _config(tmp_path, image_folder, scale=4, arch="basicvsr", init=str(init), steps=2, val_every=2,
                     checkpoint_every=2, val_crop=64, batch=1)
    result = train(config, show_progress=False)
    assert result["steps"] == 2 and "psnr" in result
    trained = load_model(str(tmp_path / "out.safetensors")).module
    before = load_model(str(init)).module
    assert isinstance(trained, BasicVSR) and (tmp_path / "out.safetensors").stat().st_size < init.stat().st_size
    spynet = [torch.equal(a.half().float(), b) for a, b in zip(before.spynet.parameters(),
                                                               trained.spynet.parameters(), strict=True)]
    assert all(spynet) and not torch.equal(before.fusion.weight.half().float(), trained.fusion.weight)


def test_basicvsr_fine_tunes_for_texture_beside_a_discriminator_and_for_steadiness(tmp_path):
    image_folder = smooth_images(tmp_path / "images", count=2, side=128, detail=16)
    init = tmp_path / "tiny-basicvsr.safetensors"
    torch.manual_seed(0)
    save_weights(BasicVSR(BasicVSRConfig(num_feat=8, num_block=1)), init, {})
    config = _config(tmp_path, image_folder, scale=4, arch="basicvsr", init=str(init), steps=2, val_every=2,
                     checkpoint_every=2, val_crop=64, batch=1, gan_weight=0.1, frequency_weight=0.1, disc_width=8,
                     temporal_weight=0.5)
    assert train(config, show_progress=False)["steps"] == 2
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert {"discriminator", "optimizer"} <= state["task"]["adversary"].keys()
    assert isinstance(load_model(str(tmp_path / "out.safetensors")).module, BasicVSR)


def test_basicvsr_exception(tmp_path, image_folder, tiny_models):
    with pytest.raises(OptionError, match="arch basicvsr fine-tunes published weights: give init"):
        train(_config(tmp_path, image_folder, scale=4, arch="basicvsr"), show_progress=False)
    with pytest.raises(LumiereError, match="model tiny-x4 is an upscaler .*, not a multi-frame video upscaler"):
        train(_config(tmp_path / "b", image_folder, scale=4, arch="basicvsr", init=str(tiny_models[4])),
              show_progress=False)
    with pytest.raises(OptionError, match="gan_weight is for upscale, restore and video --arch basicvsr, not "
                                          "video --arch compact"):
        training_config("video", {"gan_weight": 0.1, "data": ["x"], "output": "o.safetensors"})
    with pytest.raises(OptionError, match="temporal_weight is for video --arch basicvsr, not upscale"):
        training_config("upscale", {"temporal_weight": 0.5, "data": ["x"], "output": "o.safetensors"})
    with pytest.raises(LumiereError, match="gan_weight needs output crops that are multiples of 8 px"):
        train(_config(tmp_path / "c", image_folder, scale=4, arch="basicvsr", init=str(tiny_models[4]), patch=9,
                      gan_weight=0.1), show_progress=False)
    with pytest.raises(OptionError, match="arch for video is one of compact, basicvsr, got 'span'"):
        training_config("video", {"arch": "span", "data": ["x"], "output": "o.safetensors"})
