"""Crops of street-scene's moving people, in-between frames drawn by flow (DIS and a blend) beside lumiere's RIFE
ports (issue 31), enlarged x2 (nearest) so single pixels show.

Rows 1-2: a frame dropped and drawn from the frames two before and two after it (18 -> 36 fps at the 9 fps the
kept frames make), beside the dropped frame itself. Rows 3-4: the 60 fps frame nearest the middle between two of
the film's own frames (18 -> 60), where there is no truth to show. Row 5: Vid4 calendar's slow pan over
lettering, frame 16 drawn from 15 and 17, where flow leads RIFE in PSNR.

    .venv/bin/python benchmarks/interpolation_crops.py [docs/interpolation-crops.png]
"""

import sys
from pathlib import Path

import torch
from interpolation import calendar, street

from common import ROOT, crop_sheet
from lumiere.engine.runner import ModelRunner, RunnerSettings
from lumiere.models.loader import load_model
from lumiere.ops import tensor_to_array
from lumiere.stages.interpolate import FlowInbetweens, NetworkInbetweens

# (label, clip, first kept frame, its partner, time between them, left, top, width, height)
REGIONS = [("walking man, f8 from f6 + f10", "street", 6, 10, 0.5, 60, 200, 220, 240),
           ("walking man, f30 from f28 + f32", "street", 28, 32, 0.5, 160, 190, 220, 250),
           ("18 -> 60 fps between f14 and f15 (t = 0.6)", "street", 14, 15, 0.6, 90, 200, 220, 250),
           ("18 -> 60 fps between f40 and f41 (t = 0.6)", "street", 40, 41, 0.6, 210, 180, 220, 260),
           ("calendar f16 from f15 + f17", "calendar", 15, 17, 0.5, 380, 60, 220, 250)]


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "interpolation-crops.png"
    torch.set_num_threads(2)
    clips = {"street": street(), "calendar": calendar()}
    settings = RunnerSettings(device="cpu", precision="fp32")
    methods = {"flow": FlowInbetweens(),
               "rife-4.0": NetworkInbetweens(ModelRunner(load_model("rife-4.0"), settings), 1.0),
               "rife-4.25 (default)": NetworkInbetweens(ModelRunner(load_model("rife-4.25"), settings), 1.0)}
    rows = []
    for label, name, first, second, time, left, top, width, height in REGIONS:
        clip = clips[name]
        box = (slice(None), slice(top, top + height), slice(left, left + width))

        def crop(image: torch.Tensor, box=box) -> torch.Tensor:
            return image[box].repeat_interleave(2, 1).repeat_interleave(2, 2)
        tiles = {}
        if (second - first) * time == int((second - first) * time):
            tiles["truth (dropped frame)"] = crop(clip[first + int((second - first) * time)])
        else:
            tiles[f"f{first} (before)"] = crop(clip[first])
        with torch.inference_mode():
            for method, inbetweens in methods.items():
                tiles[method] = crop(inbetweens(clip[first], clip[second], [time])[0])
        rows.append((label, {method: tensor_to_array(tile) for method, tile in tiles.items()}))
    crop_sheet(rows, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
