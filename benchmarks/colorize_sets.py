"""Automatic colour on three sets of photos the colorizer never trained on, against plain gray.

- kodak: the 24 Kodak photos (the benchmark of record);
- held-out: every fifth photo of train/imagenet-1k (the first, the sixth, ...), left out of training from the
  start (`lumiere train --hold-out 5`) and never used to tune anything: 191 photos of animals, food, objects
  and scenes, harder than Kodak;
- tuning: centre crops of the first 60 photos of bsds500/test, the set decoding settings are chosen on.

Per photo, colorized from its lightness alone by the still-image stage at the default render size: CIEDE2000 to
the truth, colourfulness (Hasler and Süsstrunk), and the blotch share: pixels whose chroma is over 20 where the
truth's is under 8 (garish colour on a neutral surface); on the skin of the faces found (`lumiere.faces`, the
stage's own mask), CIEDE2000 there, over all photos with faces.

    .venv/bin/python benchmarks/colorize_sets.py [--sets kodak held-out tuning] [--model NAME|FILE] [--skin S]
        [--calm C --bold B]
"""

import argparse

import torch

from common import DATA, print_table, require, save
from lumiere.cielab import lightness, rgb_to_lab, with_chroma
from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.eval.metrics import ciede2000, colourfulness
from lumiere.io.images import read_image
from lumiere.ops import array_to_tensor
from lumiere.stages.colorize import ColorizeSettings, ColorizeStage, colorizer, skin_weights
from lumiere.train.colorize import GARISH_CHROMA, NEUTRAL_CHROMA
from lumiere.train.data import split_media

SETS = ("kodak", "held-out", "tuning")


def photos(name: str) -> list[torch.Tensor]:
    if name == "kodak":
        folder = require(DATA / "color" / "kodak")
        return [array_to_tensor(read_image(p).rgb)[None] for p in sorted(folder.iterdir()) if p.suffix == ".png"]
    if name == "held-out":
        held = split_media(require(DATA / "train" / "imagenet-1k"), 5)[1]
        return [_multiple_of_16(array_to_tensor(read_image(p).rgb)[None]) for p in held]
    folder = require(DATA / "train" / "bsds500" / "test")
    pictures = [array_to_tensor(read_image(p).rgb)[None] for p in sorted(folder.iterdir())[:60]]
    return [_centre(picture, 256) for picture in pictures]


def _multiple_of_16(picture: torch.Tensor) -> torch.Tensor:
    height, width = picture.shape[-2:]
    return picture[..., :height - height % 16, :width - width % 16]


def _centre(picture: torch.Tensor, side: int) -> torch.Tensor:
    height, width = picture.shape[-2:]
    side = min(side, height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return picture[..., top:top + side, left:left + side]


def blotch_share(out_lab: torch.Tensor, truth_lab: torch.Tensor) -> float:
    chroma = out_lab[:, 1:].norm(dim=1)
    neutral = truth_lab[:, 1:].norm(dim=1) < NEUTRAL_CHROMA
    return ((chroma > GARISH_CHROMA) & neutral).double().mean().item()


def score(stage: ColorizeStage | None, pictures: list[torch.Tensor]) -> dict[str, float]:
    """Mean CIEDE2000, colourfulness and blotch share over the pictures (None: gray), and CIEDE2000 on skin."""
    totals = torch.zeros(3, dtype=torch.float64)
    skin_error, skin_pixels, faces = 0.0, 0, 0
    for truth in pictures:
        luma = lightness(truth)
        gray = with_chroma(luma, torch.zeros(1, 2, *luma.shape[-2:]))
        with torch.inference_mode():
            out = gray if stage is None else stage.process(gray, [0])
        truth_lab, out_lab = rgb_to_lab(truth), rgb_to_lab(out)
        difference = ciede2000(out_lab, truth_lab)
        totals += torch.tensor([difference.mean().item(), colourfulness(out).item(),
                                blotch_share(out_lab, truth_lab)], dtype=torch.float64)
        skin = skin_weights(luma, luma)[:, 0] > 0.5
        if skin.any():
            faces += 1
            skin_error += difference[skin].sum().item()
            skin_pixels += int(skin.sum())
    ciede, colour, blotches = (totals / len(pictures)).tolist()
    return {"ciede2000": round(ciede, 2), "colourfulness": round(colour, 1), "blotch_share": round(blotches, 4),
            "photos_with_faces": faces, "skin_ciede2000": round(skin_error / skin_pixels, 2) if skin_pixels else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--model", default=ColorizeSettings().model)
    parser.add_argument("--skin", type=float, default=ColorizeSettings().skin)
    parser.add_argument("--calm", type=float, help="colour gain where the network is unsure (default: its own)")
    parser.add_argument("--bold", type=float, help="colour gain where it is sure (default: its own)")
    args = parser.parse_args()
    settings = ColorizeSettings(model=args.model, skin=args.skin, calm=args.calm, bold=args.bold)
    stage = ColorizeStage(colorizer(settings, Runners(RunnerSettings("cpu"))), temporal=False)
    rows = []
    for name in args.sets:
        pictures = photos(name)
        truth = sum(colourfulness(p).item() for p in pictures) / len(pictures)
        rows.append({"set": name, "photos": len(pictures), "method": "gray", **score(None, pictures),
                     "truth_colourfulness": round(truth, 1)})
        rows.append({"set": name, "photos": len(pictures), "method": args.model, **score(stage, pictures),
                     "truth_colourfulness": round(truth, 1)})
    print_table(rows, ["set", "photos", "method", "ciede2000", "colourfulness", "truth_colourfulness",
                       "blotch_share", "photos_with_faces", "skin_ciede2000"])
    save("colorize_sets", {"model": args.model, "skin": args.skin, "calm": args.calm, "bold": args.bold,
                           "garish_chroma": GARISH_CHROMA,
                           "neutral_chroma": NEUTRAL_CHROMA, "rows": rows})


if __name__ == "__main__":
    main()
