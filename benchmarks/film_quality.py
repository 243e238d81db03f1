"""Film restoration quality: film-degraded Vid4 `calendar` and Set14, and dust/grain cleaning at x1.

The degraded inputs are made here with a fixed seed: Gaussian blur (sigma 1.0), x4 bicubic downsampling,
film grain (strength 0.04, size 1.5), JPEG quality 75, and conversion to gray (BT.601 luma, whose Y equals
the colour original's, so Y-PSNR against the colour ground truth is fair). Calendar is degraded as one clip.
film-clean is scored at x1 on Set14 with grain and dust added. `detail` is the output's spectral power in the
top octave over the truth's (1.0: as much fine detail as the truth; see lumiere.eval.metrics.detail_ratio).

    .venv/bin/python benchmarks/film_quality.py [--peer] [--save-inputs DIR] [--model CANDIDATE.safetensors ...]
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from common import DATA, peer_tensor_upscalers, print_table, require, save, shipped_upscalers, upscaler
from lumiere.degradations import functional as Fd
from lumiere.degradations.transforms import Dust, FilmGrain, Quantize
from lumiere.engine.runner import ModelRunner, RunnerSettings
from lumiere.eval.metrics import detail_ratio, psnr_y, ssim_y
from lumiere.io.images import Image, read_image, write_image
from lumiere.models.loader import load_model
from lumiere.models.shipped import SHIPPED
from lumiere.ops import array_to_tensor

SEED = 1895


def crop_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return x[..., :h - h % multiple, :w - w % multiple]


def film_x4(clip: torch.Tensor, seed: int) -> torch.Tensor:
    """The benchmark's fixed degradation of a clip (T, 3, H, W) -> (T, 3, H/4, W/4)."""
    return film_degraded(clip, seed, 4)


def film_degraded(clip: torch.Tensor, seed: int, scale: int, grain: bool = True, jpeg: bool = True) -> torch.Tensor:
    """film_x4's degradation at another scale (its blur in proportion): (T, 3, H, W) -> (T, 3, H/scale, W/scale);
    its grain or its JPEG left out where `grain` or `jpeg` is False."""
    generator = torch.Generator().manual_seed(seed)
    x = Fd.blur(clip, Fd.gaussian_kernel2d(scale / 4, scale / 4))
    x = Fd.downsample(x, scale, "bicubic")
    if grain:
        x = FilmGrain(strength=(0.04, 0.04), grain_size=(1.5, 1.5), color_probability=0.0)(x, generator)
    if jpeg:
        x = Fd.jpeg(Fd.quantize(x), 75)
    return Fd.quantize(Fd.monochrome(x))


def grain_and_dust(clip: torch.Tensor, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = FilmGrain(strength=(0.05, 0.05), grain_size=(1.5, 1.5), color_probability=0.0)(clip, generator)
    x = Dust(per_frame=(8.0, 8.0), radius=(1.0, 4.0))(x, generator)
    return Quantize()(x, generator)


def load_set14() -> list[torch.Tensor]:
    folder = require(DATA / "bench" / "sr" / "Set14" / "x4" / "HR")
    return [crop_to(array_to_tensor(read_image(p).rgb)[None], 4) for p in sorted(folder.iterdir())]


def load_calendar() -> torch.Tensor:
    folder = require(DATA / "bench" / "vsr" / "Vid4" / "calendar")
    frames = [array_to_tensor(read_image(p).rgb) for p in sorted(folder.iterdir()) if p.suffix == ".png"]
    return crop_to(torch.stack(frames), 4)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", action="store_true",
                        help="also run realesr-animevideov3-x4 and realesrgan-x4plus through ncnn on CPU (slow)")
    parser.add_argument("--save-inputs", type=Path, default=None, help="write the degraded inputs here")
    parser.add_argument("--model", type=Path, action="append", default=[],
                        help="also score this x4 model file (a candidate, e.g. from lumiere train); repeatable")
    args = parser.parse_args()
    methods = {"bicubic": lambda lr: Fd.resize(lr, (lr.shape[-2] * 4, lr.shape[-1] * 4), "bicubic").clamp(0, 1)}
    methods.update(shipped_upscalers(["sr-x4", "film-x4"]))
    methods["--strength 0.5"] = upscaler(strength=0.5)
    methods["--look detailed"] = upscaler(look="detailed")
    methods.update(shipped_upscalers(["film-x4-detailed", "film-x4-high", "film-x4-fast"]))
    methods["default upscale (measured)"] = upscaler()  # what `lumiere upscale` picks after measuring the input
    methods.update({path.name: upscaler(str(path)) for path in args.model})
    if args.peer:
        methods.update({name.removesuffix(" (ncnn)"): run for name, run in peer_tensor_upscalers().items()})

    sets = {"Vid4 calendar (31 frames)": [(load_calendar(), SEED)],
            "Set14": [(image, SEED + i) for i, image in enumerate(load_set14())]}
    rows = []
    for set_name, items in sets.items():
        scores: dict[str, list] = {name: [] for name in methods}
        for index, (hr, seed) in enumerate(items):
            lr = film_x4(hr, seed)
            if args.save_inputs:
                args.save_inputs.mkdir(parents=True, exist_ok=True)
                write_image(args.save_inputs / f"{set_name.split()[0]}-{index:02d}.png", Image(to_uint8(lr[0])))
            for name, method in methods.items():
                sr = method(lr)
                scores[name] += list(zip(psnr_y(sr, hr, 4).tolist(), ssim_y(sr, hr, 4).tolist(),
                                         detail_ratio(sr, hr, 4).tolist(), strict=True))
        for name, values in scores.items():
            psnr, ssim, detail = np.mean(values, axis=0)
            rows.append({"set": set_name, "method": name, "psnr_y": round(float(psnr), 2),
                         "ssim_y": round(float(ssim), 4), "detail": round(float(detail), 3)})
        base = next(r["psnr_y"] for r in rows if r["set"] == set_name and r["method"] == "bicubic")
        for row in rows:
            if row["set"] == set_name:
                row["vs_bicubic_db"] = f"{row['psnr_y'] - base:+.2f}"
    print_table(rows, ["set", "method", "psnr_y", "ssim_y", "vs_bicubic_db", "detail"])

    clean_rows = []
    if SHIPPED.get("film-clean") is not None and SHIPPED.get("film-clean").path.is_file():
        runner = ModelRunner(load_model("film-clean"), RunnerSettings("cpu", tile=0))
        degraded_scores, cleaned_scores, untouched_scores = [], [], []
        for index, hr in enumerate(load_set14()):
            noisy = grain_and_dust(hr, SEED + index)
            with torch.inference_mode():
                cleaned = runner(noisy).clamp(0, 1)
                untouched = runner(hr).clamp(0, 1)
            degraded_scores.append(psnr_y(noisy, hr).item())
            cleaned_scores.append(psnr_y(cleaned, hr).item())
            untouched_scores.append(psnr_y(untouched, hr).item())
        clean_rows = [{"set": "Set14 grain+dust (x1)", "method": "degraded input",
                       "psnr_y": round(float(np.mean(degraded_scores)), 2)},
                      {"set": "Set14 grain+dust (x1)", "method": "film-clean",
                       "psnr_y": round(float(np.mean(cleaned_scores)), 2)},
                      # a cleaner must leave clean pictures alone: its output on them against themselves
                      {"set": "Set14 clean (x1)", "method": "film-clean",
                       "psnr_y": round(float(np.mean(untouched_scores)), 2)}]
        clean_rows[1]["gain_db"] = f"{clean_rows[1]['psnr_y'] - clean_rows[0]['psnr_y']:+.2f}"
        print()
        print_table(clean_rows, ["set", "method", "psnr_y", "gain_db"])
    save("film_quality", {"degradation": __doc__.split("\n\n")[1], "seed": SEED, "rows": rows,
                          "cleaning": clean_rows})


if __name__ == "__main__":
    main()
