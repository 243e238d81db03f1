"""The shipped upscalers keep their published quality (the full table is in benchmarks/sr_quality.py)."""

import numpy as np
import pytest
import torch

from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.eval.metrics import psnr_y
from lumiere.io.images import read_image
from lumiere.ops import array_to_tensor
from lumiere.stages.upscale import UpscaleSettings, upscale_stage

from .conftest import data_path


@pytest.mark.slow
@pytest.mark.parametrize("scale,floor", [(4, 30.7), (2, 36.9)])
def test_set5_psnr(scale, floor):
    folder = data_path("bench", "sr", "Set5", f"x{scale}")
    settings, runners = UpscaleSettings(scale=scale, model=f"sr-x{scale}"), Runners(RunnerSettings(tile=0))
    scores = []
    for hr_path in sorted((folder / "HR").iterdir()):
        hr = read_image(hr_path).rgb
        lr = read_image(folder / "LR" / hr_path.name.replace("_HR", "_LR")).rgb
        size, out_size = (lr.shape[1], lr.shape[0]), (hr.shape[1], hr.shape[0])
        stage = upscale_stage(settings.choice(size, out_size), runners, size, out_size)
        with torch.inference_mode():
            sr = stage.process(array_to_tensor(lr)[None])
        scores.append(psnr_y(sr, array_to_tensor(hr)[None], shave=scale).item())
    assert np.mean(scores) >= floor


def test_damage_detector_tells_film_from_clean():
    """The shipped detector on Set14 x4, clean (the benchmark's own LR) and degraded like old film."""
    from lumiere.degradations import functional as Fd
    from lumiere.degradations.transforms import FilmGrain
    from lumiere.stages.upscale import DETECTOR, measure_input_kind

    folder = data_path("bench", "sr", "Set14", "x4")
    detector = Runners(RunnerSettings("cpu")).get(DETECTOR, ("detect",))
    right = []
    for seed, hr_path in enumerate(sorted((folder / "HR").iterdir())):
        clean = array_to_tensor(read_image(folder / "LR" / hr_path.name.replace("_HR", "_LR")).rgb)[None]
        film = Fd.downsample(Fd.blur(array_to_tensor(read_image(hr_path).rgb)[None], Fd.gaussian_kernel2d(1.0, 1.0)),
                             4, "bicubic")
        film = FilmGrain(strength=(0.04, 0.04), grain_size=(1.5, 1.5))(film, torch.Generator().manual_seed(seed))
        film = Fd.quantize(Fd.jpeg(Fd.quantize(film), 75))
        right += [measure_input_kind(detector, clean)[0] == "clean", measure_input_kind(detector, film)[0] == "film"]
    assert np.mean(right) >= 0.85
