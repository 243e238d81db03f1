"""The shipped upscalers keep their published quality (the full table is in benchmarks/sr_quality.py)."""

import numpy as np
import pytest
import torch

from lumiere.convert import array_to_tensor
from lumiere.engine.runner import RunnerSettings
from lumiere.eval.metrics import psnr_y
from lumiere.io.images import read_image
from lumiere.plan import Runners, UpscaleOptions, UpscalerFactory

from .conftest import data_path


@pytest.mark.parametrize("scale,floor", [(4, 30.7), (2, 36.9)])
def test_set5_psnr(scale, floor):
    folder = data_path("bench", "sr", "Set5", f"x{scale}")
    factory = UpscalerFactory(UpscaleOptions(scale=scale, model=f"sr-x{scale}"), Runners(RunnerSettings(tile=0)))
    scores = []
    for hr_path in sorted((folder / "HR").iterdir()):
        hr = read_image(hr_path).rgb
        lr = read_image(folder / "LR" / hr_path.name.replace("_HR", "_LR")).rgb
        stage = factory.stage((lr.shape[1], lr.shape[0]), (hr.shape[1], hr.shape[0]))
        with torch.inference_mode():
            sr = stage.process(array_to_tensor(lr)[None])
        scores.append(psnr_y(sr, array_to_tensor(hr)[None], shave=scale).item())
    assert np.mean(scores) >= floor
