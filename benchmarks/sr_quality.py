"""Super-resolution quality on Set5/Set14 (bicubic-degraded), the standard protocol.

PSNR and SSIM on the Y channel (BT.601, MATLAB's rgb2ycbcr), `scale` pixels
shaved at each border, against the HR images of ../shared/data/bench/sr. sr-x2/x4 and film-x2/x4 in each
precision this CPU runs (fp32; bf16 where native; int8 where OpenVINO is installed), and lumiere's default.

    .venv/bin/python benchmarks/sr_quality.py [--peer]
"""

import argparse
import contextlib
import io

import numpy as np
import torch

from common import DATA, peer_upscaler, print_table, require, save
from lumiere.engine.int8 import openvino_available
from lumiere.engine.precision import cpu_has_native_bf16
from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.eval.metrics import psnr_y, ssim_y
from lumiere.io.images import read_image
from lumiere.ops import array_to_tensor
from lumiere.stages.upscale import UpscaleSettings, input_kind, upscale_stage


def pairs(dataset: str, scale: int):
    folder = require(DATA / "bench" / "sr" / dataset / f"x{scale}")
    for hr_path in sorted((folder / "HR").iterdir()):
        lr_path = folder / "LR" / hr_path.name.replace("_HR", "_LR")
        yield hr_path.stem, read_image(lr_path).rgb, read_image(hr_path).rgb


def score(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    a, b = array_to_tensor(sr)[None], array_to_tensor(hr)[None]
    return psnr_y(a, b, scale).item(), ssim_y(a, b, scale).item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", action="store_true", help="also score realesr-animevideov3-x4 (slow on CPU)")
    args = parser.parse_args()
    peer = peer_upscaler() if args.peer else None
    precisions = ["fp32"] + (["bf16"] if cpu_has_native_bf16() else []) + (["int8"] if openvino_available() else [])
    rows = []
    for scale in (2, 4):
        upscalers = {f"{model} {p}": (UpscaleSettings(scale=scale, model=model),
                                      Runners(RunnerSettings(precision=p, tile=0)))
                     for model in (f"sr-x{scale}", f"film-x{scale}") for p in precisions}
        upscalers["default (lumiere's choice)"] = (UpscaleSettings(scale=scale), Runners(RunnerSettings(tile=0)))
        for dataset in ("Set5", "Set14"):
            scores: dict[str, list] = {"bicubic": [], **{name: [] for name in upscalers}}
            if peer and scale == 4:
                scores["realesr-animevideov3-x4"] = []
            for _, lr, hr in pairs(dataset, scale):
                h, w = hr.shape[:2]
                lr_t = array_to_tensor(lr)[None]
                bicubic = torch.nn.functional.interpolate(lr_t, size=(h, w), mode="bicubic", align_corners=False,
                                                          antialias=True)  # a = -0.5, as MATLAB
                scores["bicubic"].append(score((bicubic[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round()
                                               .astype(np.uint8), hr, scale))
                for name, (settings, runners) in upscalers.items():
                    kind = input_kind(lr_t, runners)[0] if settings.needs_input_kind else None
                    size = (lr.shape[1], lr.shape[0])
                    stage = upscale_stage(settings.choice(size, (w, h), kind), runners, size, (w, h))
                    with torch.inference_mode():
                        sr = stage.process(lr_t)[0]
                    scores[name].append(score((sr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), hr, scale))
                if "realesr-animevideov3-x4" in scores:
                    with contextlib.redirect_stdout(io.StringIO()):
                        out = peer(lr)
                    scores["realesr-animevideov3-x4"].append(score(np.ascontiguousarray(out[:h, :w]), hr, scale))
            for method, values in scores.items():
                psnr, ssim = np.mean(values, axis=0)
                rows.append({"dataset": dataset, "scale": f"x{scale}", "method": method, "images": len(values),
                             "psnr_y": round(float(psnr), 2), "ssim_y": round(float(ssim), 4)})
    print_table(rows, ["dataset", "scale", "method", "images", "psnr_y", "ssim_y"])
    save("sr_quality", {"protocol": "Y channel (BT.601), shave=scale, MATLAB-bicubic LR from ../shared/data/bench/sr",
                        "rows": rows})


if __name__ == "__main__":
    main()
