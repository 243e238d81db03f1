"""Colorization quality on the 24 Kodak photos, colorized from their lightness alone.

Each photo is reduced to L* and colorized by `lumiere colorize`'s own path (the still-image stage at the
default render size). Reported per method, averaged over the photos: mean CIEDE2000 to the true colours,
colourfulness (Hasler and Süsstrunk; the truth's own figure is listed), and PSNR of the RGB picture. "gray"
is the colorless baseline: the true lightness with a* = b* = 0. The rows below the defaults leave out one step
of the colorizer each, or make it bolder.

    .venv/bin/python benchmarks/colorize_quality.py
"""

import torch

from common import DATA, print_table, require, save
from lumiere.cielab import lightness, rgb_to_lab, with_chroma
from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.eval.metrics import ciede2000, colourfulness
from lumiere.io.images import read_image
from lumiere.ops import array_to_tensor
from lumiere.stages.colorize import ColorizeSettings, ColorizeStage, colorizer

VARIANTS = {"lumiere colorize (defaults)": {},
            "  without bold/calm by certainty": {"unsure_spread": 0},
            "  without blotch smoothing": {"blotch_eps": 0},
            "  saturation 1.3": {"saturation": 1.3}}


def psnr_rgb(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = (torch.round(x.double().clamp(0, 1) * 255) for x in (a, b))
    return (10 * torch.log10(255**2 / ((a - b) ** 2).mean())).item()


def main() -> None:
    folder = require(DATA / "color" / "kodak")
    photos = [array_to_tensor(read_image(p).rgb)[None] for p in sorted(folder.iterdir()) if p.suffix == ".png"]
    runners = Runners(RunnerSettings("cpu"))
    stages = {name: ColorizeStage(colorizer(ColorizeSettings(**overrides), runners), temporal=False)
              for name, overrides in VARIANTS.items()}
    scores: dict[str, list[tuple[float, float, float]]] = {"ground truth": [], "gray (no colour)": []}
    scores.update({name: [] for name in stages})
    for truth in photos:
        luma = lightness(truth)
        gray = with_chroma(luma, torch.zeros(1, 2, *luma.shape[-2:]))
        truth_lab = rgb_to_lab(truth)
        outputs = {"ground truth": truth, "gray (no colour)": gray}
        with torch.inference_mode():
            outputs.update({name: stage.process(gray, [0]) for name, stage in stages.items()})
        for name, out in outputs.items():
            scores[name].append((ciede2000(rgb_to_lab(out), truth_lab).mean().item(), colourfulness(out).item(),
                                 psnr_rgb(out, truth) if name != "ground truth" else float("inf")))
    rows = []
    for name, values in scores.items():
        ciede, colour, psnr = (sum(v[i] for v in values) / len(values) for i in range(3))
        rows.append({"method": name, "ciede2000": round(ciede, 2), "colourfulness": round(colour, 1),
                     "psnr_rgb": "" if name == "ground truth" else round(psnr, 2)})
    print_table(rows, ["method", "ciede2000", "colourfulness", "psnr_rgb"])
    save("colorize_quality", {"photos": len(photos), "render_size": ColorizeSettings().render_size,
                              "variants": VARIANTS, "rows": rows})


if __name__ == "__main__":
    main()
