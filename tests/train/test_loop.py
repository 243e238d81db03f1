import pytest
import torch

from lumiere.errors import LumiereError, OptionError
from lumiere.models.loader import load_model
from lumiere.train.config import TrainConfig
from lumiere.train.loop import train
from lumiere.train.tasks import training_config

from ..conftest import data_path, smooth_images


@pytest.fixture
def image_folder(tmp_path):
    return smooth_images(tmp_path / "images", count=3, side=64, detail=12)


def _config(tmp_path, folder, **overrides):
    values = dict(scale=2, data=[str(folder)], val=[str(folder)], val_images=2, val_crop=32,
                  output=str(tmp_path / "out.safetensors"), run_dir=str(tmp_path / "run"), num_feat=8, num_conv=2,
                  steps=20, batch=4, patch=8, val_every=10, checkpoint_every=10, seed=0, device="cpu")
    values.update(overrides)
    return TrainConfig(**values)


def test_smoke(tmp_path, image_folder):
    result = train(_config(tmp_path, image_folder), show_progress=False)
    assert result["steps"] == 20 and "psnr" in result
    assert load_model(str(tmp_path / "out.safetensors")).descriptor.scale == 2
    assert (tmp_path / "run" / "curve.png").stat().st_size > 0
    assert TrainConfig.load(tmp_path / "run" / "config.yaml").steps == 20
    assert load_model(str(tmp_path / "out.safetensors")).int8_ranges is not None  # calibrated for int8 on the way


@pytest.mark.slow
def test_cli_calibrate(tmp_path, image_folder, tiny_models):
    from click.testing import CliRunner

    from lumiere.cli import main
    from lumiere.models.loader import weights_metadata

    train(_config(tmp_path, image_folder, steps=4, val=[]), show_progress=False)
    trained = tmp_path / "out.safetensors"
    before = load_model(str(trained)).module.state_dict()
    result = CliRunner().invoke(main, ["train", "calibrate", str(trained), "--data", str(image_folder)])
    assert result.exit_code == 0, result.output
    assert load_model(str(trained)).int8_ranges is not None and weights_metadata(trained)["lumiere.steps"] == "4"
    assert all(torch.equal(value, load_model(str(trained)).module.state_dict()[key]) for key, value in before.items())
    foreign = tmp_path / "imported.safetensors"
    foreign.write_bytes(tiny_models[2].read_bytes())
    unnamed = CliRunner().invoke(main, ["train", "calibrate", str(foreign), "--data", str(image_folder)])
    assert unnamed.exit_code != 0 and "records no training" in unnamed.output
    assert len(unnamed.output.strip().splitlines()) == 1
    named = CliRunner().invoke(main, ["train", "calibrate", str(foreign), "--data", str(image_folder),
                                      "--recipe", "film"])
    assert named.exit_code == 0, named.output
    assert load_model(str(foreign)).int8_ranges is not None


@pytest.mark.slow
def test_span_trains_and_loads_as_span(tmp_path, image_folder):
    from lumiere.models.archs import build_span

    result = train(_config(tmp_path, image_folder, arch="span", steps=4), show_progress=False)
    loaded = load_model(str(tmp_path / "out.safetensors"))
    assert result["steps"] == 4 and loaded.descriptor.scale == 2 and loaded.descriptor.architecture == "SPAN"
    trained = loaded.module.state_dict()
    assert trained.keys() == build_span(2, num_feat=8).state_dict().keys()
    x = torch.rand(1, 3, 20, 28)
    with torch.inference_mode():
        assert loaded.module(x).shape == (1, 3, 40, 56)


@pytest.mark.slow
def test_deterministic_with_seed(tmp_path, image_folder):
    train(_config(tmp_path / "a", image_folder), show_progress=False)
    train(_config(tmp_path / "b", image_folder), show_progress=False)
    a = load_model(str(tmp_path / "a" / "out.safetensors")).module.state_dict()
    b = load_model(str(tmp_path / "b" / "out.safetensors")).module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resume_after_interruption_gives_the_same_weights(tmp_path, image_folder, monkeypatch):
    train(_config(tmp_path / "full", image_folder), show_progress=False)

    from lumiere.train.data import CropSampler

    original, calls = CropSampler.sample, []

    def interrupted(self, batch, generator):
        calls.append(1)
        if len(calls) == 14:  # step 14: the last checkpoint was written at step 10
            raise KeyboardInterrupt
        return original(self, batch, generator)

    monkeypatch.setattr(CropSampler, "sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path / "split", image_folder), show_progress=False)
    monkeypatch.setattr(CropSampler, "sample", original)
    train(_config(tmp_path / "split", image_folder), resume=True, show_progress=False)
    a = load_model(str(tmp_path / "full" / "out.safetensors")).module.state_dict()
    b = load_model(str(tmp_path / "split" / "out.safetensors")).module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_worker_processes_make_the_same_batches(tmp_path, image_folder):
    train(_config(tmp_path / "inline", image_folder, steps=6, val=[]), show_progress=False)
    train(_config(tmp_path / "workers", image_folder, steps=6, val=[], workers=2), show_progress=False)
    a = load_model(str(tmp_path / "inline" / "out.safetensors")).module.state_dict()
    b = load_model(str(tmp_path / "workers" / "out.safetensors")).module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_fine_tunes(tmp_path, image_folder, tiny_models):
    result = train(_config(tmp_path, image_folder, init=str(tiny_models[2]), steps=5, val=[]), show_progress=False)
    assert result["steps"] == 5


def test_exception(tmp_path, image_folder, tiny_models):
    with pytest.raises(LumiereError, match="init model is x4"):
        train(_config(tmp_path, image_folder, init=str(tiny_models[4])), show_progress=False)
    with pytest.raises(LumiereError, match="no checkpoint"):
        train(_config(tmp_path / "x", image_folder), resume=True, show_progress=False)
    with pytest.raises(LumiereError, match="unknown architecture 'unet'; known: compact, span"):
        train(_config(tmp_path / "y", image_folder, arch="unet"), show_progress=False)


def test_loads_shared_training_data():
    from lumiere.train.data import CropSampler

    sampler = CropSampler([str(data_path("train", "t91"))], 64)
    batch = sampler.sample(4, torch.Generator().manual_seed(0))
    assert batch.shape == (4, 3, 64, 64) and 0 <= batch.min() and batch.max() <= 1


def test_cli_config_file_with_overrides_and_video_data(tmp_path, image_folder, video_factory):
    from click.testing import CliRunner

    from lumiere.cli import main

    config = _config(tmp_path, image_folder, steps=50, recipe="film", gray_probability=0.5)
    config_path = tmp_path / "config.yaml"
    config.save(config_path)
    clip = video_factory("footage.mp4", frames=6, size=(96, 64))
    result = CliRunner().invoke(main, ["train", "restore", "--config", str(config_path), "--steps", "4",
                                       "--data", str(clip), "--patch", "16"])
    assert result.exit_code == 0, result.output
    saved = TrainConfig.load(tmp_path / "run" / "config.yaml")
    assert (saved.steps, saved.scale, saved.task, saved.data, saved.num_feat) == (4, 1, "restore", [str(clip)], 8)
    assert load_model(config.output).descriptor.scale == 1


def test_frequency_loss_and_gray_pairs(tmp_path, image_folder):
    result = train(_config(tmp_path, image_folder, steps=4, frequency_weight=0.1, gray_probability=1.0,
                           recipe="film"), show_progress=False)
    assert result["steps"] == 4


def test_export_checkpoint_matches_final_weights(tmp_path, image_folder):
    from lumiere.train.loop import export_checkpoint

    train(_config(tmp_path, image_folder), show_progress=False)
    assert export_checkpoint(tmp_path / "run", tmp_path / "exported.safetensors") == 20
    a = load_model(str(tmp_path / "out.safetensors")).module.state_dict()
    b = load_model(str(tmp_path / "exported.safetensors")).module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_repair_training_gives_a_model_the_repair_stage_takes(tmp_path, image_folder):
    from lumiere.degradations.functional import paint_specks
    from lumiere.engine.runner import Runners, RunnerSettings
    from lumiere.io.reader import FrameInfo
    from lumiere.stages.repair import RepairSettings, repair_stage

    config = _config(tmp_path, image_folder, task="repair", scale=1, num_feat=4, patch=16, batch=2, steps=4,
                     val_every=4, checkpoint_every=4)
    result = train(config, show_progress=False)
    assert result["steps"] == 4 and "psnr" in result
    stage = repair_stage(RepairSettings(model=config.output), Runners(RunnerSettings()))
    clip = paint_specks(torch.rand(5, 3, 32, 32), torch.tensor([[2, 0.5, 0.5, 2.0, 0.0, 1.0]]))
    out = list(stage.stream((FrameInfo(i, i, 1), clip[i]) for i in range(5)))
    assert len(out) == 5 and out[2][1].shape == (3, 32, 32)


class _RunsCode:
    """Pickles into a call of os.system: what a hostile checkpoint would hold."""

    def __reduce__(self):
        import os

        return os.system, ("touch pwned",)


@pytest.mark.parametrize("how", ["resume", "export"])
def test_exception_checkpoint_that_would_run_code_is_refused(tmp_path, image_folder, monkeypatch, how):
    from lumiere.train.loop import CHECKPOINT, export_checkpoint

    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save({"ema": {}, "step": 1, "config": {}, "payload": _RunsCode()}, run_dir / CHECKPOINT)
    with pytest.raises(LumiereError, match="never runs code") as raised:
        if how == "resume":
            train(_config(tmp_path, image_folder), resume=True, show_progress=False)
        else:
            export_checkpoint(run_dir, tmp_path / "out.safetensors")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "pwned").exists()


class TestAdversarial:
    def test_smoke(self, tmp_path, image_folder):
        result = train(_config(tmp_path, image_folder, gan_weight=0.1, disc_width=8, steps=6, val_every=3,
                               checkpoint_every=3), show_progress=False)
        assert result["steps"] == 6
        loaded = load_model(str(tmp_path / "out.safetensors"))
        assert loaded.descriptor.scale == 2 and loaded.descriptor.architecture == "RealESRGAN Compact"
        state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
        assert {"discriminator", "optimizer"} <= state["task"]["adversary"].keys()

    def test_cardinality(self):
        from lumiere.train.adversarial import UNetDiscriminator

        discriminator = UNetDiscriminator(width=8)
        assert discriminator(torch.rand(2, 3, 24, 40)).shape == (2, 1, 24, 40)

    def test_exception(self, tmp_path, image_folder):
        from lumiere.train.adversarial import UNetDiscriminator

        with pytest.raises(ValueError, match="multiples of 8"):
            UNetDiscriminator(width=8)(torch.rand(1, 3, 20, 20))
        with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"):
            UNetDiscriminator(width=8)(torch.rand(3, 16, 16))
        with pytest.raises(LumiereError, match="multiples of 8"):
            train(_config(tmp_path, image_folder, gan_weight=0.1, patch=9), show_progress=False)

    @pytest.mark.slow
    def test_resume_gives_the_same_weights(self, tmp_path, image_folder, monkeypatch):
        from lumiere.train import loop

        options = dict(gan_weight=0.1, disc_width=8, steps=6, val_every=100, checkpoint_every=3)
        train(_config(tmp_path / "whole", image_folder, **options), show_progress=False)
        original = loop._lr_at
        calls = []

        def stop_after_a_checkpoint(config, step):
            calls.append(step)
            if step == 4:
                raise KeyboardInterrupt
            return original(config, step)

        monkeypatch.setattr(loop, "_lr_at", stop_after_a_checkpoint)
        with pytest.raises(KeyboardInterrupt):
            train(_config(tmp_path / "split", image_folder, **options), show_progress=False)
        monkeypatch.setattr(loop, "_lr_at", original)
        train(_config(tmp_path / "split", image_folder, **options), resume=True, show_progress=False)
        a = load_model(str(tmp_path / "whole" / "out.safetensors")).module.state_dict()
        b = load_model(str(tmp_path / "split" / "out.safetensors")).module.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_detect_task(tmp_path, image_folder):
    config = _config(tmp_path, image_folder, task="detect", scale=1, num_feat=4, patch=8, batch=4, steps=4,
                     val_every=4, checkpoint_every=4, gray_probability=0.5, recipe="film")
    result = train(config, show_progress=False)
    assert result["steps"] == 4 and 0 <= result["accuracy"] <= 1
    assert load_model(config.output, roles=("detect",)).descriptor.architecture == "DamageNet"


@pytest.mark.slow
def test_degradations_on_the_training_device_are_repeatable_and_resume_exactly(tmp_path, image_folder,
                                                                                 monkeypatch):
    from lumiere.train import loop

    train(_config(tmp_path / "a", image_folder, degrade_on="device", recipe="film"), show_progress=False)
    train(_config(tmp_path / "b", image_folder, degrade_on="device", recipe="film"), show_progress=False)
    a = load_model(str(tmp_path / "a" / "out.safetensors")).module.state_dict()
    b = load_model(str(tmp_path / "b" / "out.safetensors")).module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)

    original = loop._save_checkpoint
    calls = []

    def stop_after_first(path, state):
        original(path, state)
        calls.append(state["step"])
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_save_checkpoint", stop_after_first)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path / "split", image_folder, degrade_on="device", recipe="film"), show_progress=False)
    monkeypatch.setattr(loop, "_save_checkpoint", original)
    train(_config(tmp_path / "split", image_folder, degrade_on="device", recipe="film"), resume=True,
          show_progress=False)
    split = load_model(str(tmp_path / "split" / "out.safetensors")).module.state_dict()
    assert calls == [10] and all(torch.equal(a[k], split[k]) for k in a)


def test_params_only_pairs_hold_the_same_crops(image_folder):
    from lumiere.degradations.batched import apply_batch_params
    from lumiere.degradations.recipes import build_recipe
    from lumiere.train.data import CropSampler, DegradedPairs

    recipe = build_recipe("film", 2)
    sampler = CropSampler([str(image_folder)], 32)
    on_cpu = DegradedPairs(sampler, recipe, 4, 0.5, seed=3, steps=2)[1]
    params, hr = DegradedPairs(sampler, recipe, 4, 0.5, seed=3, steps=2, params_only=True)[1]
    assert torch.equal(hr, on_cpu[1]) and len(params) == 4
    assert apply_batch_params(recipe, hr, params).shape == on_cpu[0].shape == (4, 3, 16, 16)


def test_exception_degrade_on(tmp_path, image_folder):
    with pytest.raises(LumiereError, match="degrade_on must be one of auto, cpu, device"):
        train(_config(tmp_path, image_folder, degrade_on="gpu"), show_progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("task, options", [
    ("detect", dict(scale=1, num_feat=4, patch=8, batch=4, gray_probability=0.5)),
    ("colorize", dict(scale=1, num_feat=8, num_conv=0, patch=16, batch=2, recipe="film-luma", val_crop=32)),
])
def test_detect_and_colorize_degrade_on_the_training_device(tmp_path, image_folder, task, options):
    """Same seed, same weights, with the degradations applied by the training device; the figures are the task's."""
    weights = []
    for run in ("a", "b"):
        config = _config(tmp_path / run, image_folder, task=task, steps=4, val_every=4, checkpoint_every=4,
                         degrade_on="device", **options)
        result = train(config, show_progress=False)
        assert result["steps"] == 4
        weights.append(load_model(config.output, roles=(task,)).module.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    if task == "colorize":  # its decoding's boldness, chosen on the validation pictures at export
        from lumiere.stages.colorize import GAIN_GRID

        assert tuple(weights[0]["colour_gain"].tolist()) in {tuple(torch.tensor(g).half().tolist()) for g in GAIN_GRID}


def test_params_only_items_of_detect_and_colorize_hold_the_same_crops(image_folder):
    from lumiere.degradations.recipes import build_recipe
    from lumiere.train.colorize import ColourPairs, film_lightness
    from lumiere.train.data import CropSampler, FilmOrClean

    recipes = {(kind, scale): build_recipe(name, scale) for kind, name in (("film", "film"), ("clean", "bicubic"))
               for scale in (4, 2)}
    sampler = CropSampler([str(image_folder)], 32)
    pictures, labels = FilmOrClean(sampler, recipes, 4, 0.5, seed=3, steps=2)[1]
    (hr, scale, film, clean), same_labels = FilmOrClean(sampler, recipes, 4, 0.5, seed=3, steps=2,
                                                        params_only=True)[1]
    assert scale == 2 and hr.shape == (4, 3, 16, 16) and len(film) == len(clean) == 2
    assert torch.equal(labels, same_labels) and pictures.shape == (4, 3, 8, 8)

    recipe = build_recipe("film-luma", 1)
    lightness_, ab = ColourPairs(sampler, recipe, 2, seed=3, steps=2)[1]
    (rgb, params), same_ab = ColourPairs(sampler, recipe, 2, seed=3, steps=2, params_only=True)[1]
    assert torch.equal(ab, same_ab) and film_lightness(recipe, rgb, params).shape == lightness_.shape == (2, 1, 32, 32)


@pytest.mark.parametrize("task, options", [("repair", dict(scale=1, patch=16)), ("video", dict(scale=2))])
def test_exception_tasks_that_make_their_pairs_on_the_cpu(tmp_path, image_folder, task, options):
    with pytest.raises(LumiereError, match=f"degrade_on device: {task} makes its pairs on the CPU"):
        train(_config(tmp_path, image_folder, task=task, degrade_on="device", recipe="film", **options),
              show_progress=False)


def test_a_config_file_leaves_what_it_omits_to_the_task(tmp_path):
    """A config file's missing settings are the task's defaults, as on the command line: a colorize run's recipe
    and width are not an upscaler's."""
    from lumiere.train.config import TrainConfig
    from lumiere.train.tasks import training_config

    path = tmp_path / "colour.yaml"
    path.write_text(f"task: colorize\narch: mobilenet\ndata: [{tmp_path}]\noutput: {tmp_path / 'c.safetensors'}\n")
    config = training_config("colorize", TrainConfig.values_in(path))
    assert (config.recipe, config.num_feat, config.arch) == ("film-luma", 128, "mobilenet")


class TestRebalancing:
    def test_smoke(self):
        from lumiere.train.colorize import rebalancing_weights

        bins = torch.tensor([[0.0, 0.0], [40.0, 0.0], [0.0, 40.0]])
        counts = torch.tensor([90.0, 9.0, 1.0])
        weights = rebalancing_weights(counts, bins, 0.5)
        assert weights[0] < weights[1] < weights[2]  # the rarer a colour, the more it counts
        assert torch.allclose(rebalancing_weights(counts, bins, 0.0), torch.ones(3))
        assert (rebalancing_weights(counts, bins, 1.0)[2] / rebalancing_weights(counts, bins, 1.0)[0]
                > weights[2] / weights[0])

    def test_exception(self, tmp_path):
        from lumiere.train.colorize import rebalancing_weights

        with pytest.raises(ValueError, match=r"expected a rebalance in \[0, 1\], got 1.5"):
            rebalancing_weights(torch.ones(3), torch.zeros(3, 2), 1.5)
        values = {"data": [str(tmp_path)], "output": str(tmp_path / "o.safetensors")}
        with pytest.raises(OptionError, match="rebalance weighs colours for colorize, not upscale"):
            training_config("upscale", {**values, "rebalance": 0.2})
        assert training_config("colorize", values).rebalance == 0.5
        assert training_config("colorize", {**values, "rebalance": 0.2}).rebalance == 0.2


class TestNeutralPenalty:
    bins = torch.tensor([[0.0, 0.0], [40.0, 0.0], [0.0, 40.0]])

    def test_smoke(self):
        from lumiere.train.colorize import neutral_penalty

        ab = torch.zeros(1, 2, 2, 2)
        ab[0, 0, 0, 0] = 40.0  # one red pixel, three gray
        garish_everywhere = torch.tensor([-9.0, 9.0, -9.0])[None, :, None, None].expand(1, 3, 2, 2)
        gray_everywhere = torch.tensor([9.0, -9.0, -9.0])[None, :, None, None].expand(1, 3, 2, 2)
        assert neutral_penalty(garish_everywhere, ab, self.bins) > 0.99
        assert neutral_penalty(gray_everywhere, ab, self.bins) < 0.01
        red_only_where_red = gray_everywhere.clone()
        red_only_where_red[0, :, 0, 0] = torch.tensor([-9.0, 9.0, -9.0])
        assert neutral_penalty(red_only_where_red, ab, self.bins) < 0.01  # colour where the truth has it is free

    def test_exception(self, tmp_path):
        from lumiere.train.colorize import neutral_penalty

        with pytest.raises(ValueError, match=r"expected \(B, 3, h, w\) logits and \(B, 2, h, w\) a\*b\*, got "
                                             r"\(1, 3, 2, 2\) and \(1, 2, 4, 4\)"):
            neutral_penalty(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 4, 4), self.bins)
        values = {"data": [str(tmp_path)], "output": str(tmp_path / "o.safetensors")}
        with pytest.raises(OptionError, match="neutral_weight keeps neutral surfaces gray for colorize, not video"):
            training_config("video", {**values, "neutral_weight": 1.0})
