"""Crops of film frames upscaled x4 by bicubic, Real-ESRGAN's two ncnn models, the single-frame film-x4 and
film-x4-high (RRDB), the multi-frame video-x4 (what `restore` enlarges a film with in the faithful look) and the
recurrent basicvsr-clean-x4 (what it enlarges a clean film with) and basicvsr-film-x4 (a damaged one at
--quality high), for people to look at side by side (issues 17 and 30).

Rows: regions of street-scene.mp4 (the shutters' slats, the walking man, a bare tree and a street lamp) and of
film-degraded Vid4 calendar (`film_quality.py`'s degradation), whose last column is the truth (in gray, as the
input is). Each method gets the frame
with MARGIN source pixels around the crop; video-x4 also gets the two frames on each side, as in a film, and
the recurrent network the seven on each side (a window of 15, as restore's).
Writes docs/video-crops.png. With `--look detailed`, the detailed looks instead (docs/video-detailed-crops.png):
bicubic, the two Real-ESRGAN models, `--look detailed` (film-x4 blended towards film-x4-detailed, one frame at a
time), basicvsr-film-x4 (the faithful look at --quality high), `--quality high --look detailed` (it blended
towards basicvsr-film-x4-detailed) and basicvsr-film-x4-detailed alone.

    .venv/bin/python benchmarks/video_crops.py [--model CANDIDATE.safetensors ...] [--out docs/video-crops.png]
    .venv/bin/python benchmarks/video_crops.py --precision bf16 --precision int8 --out docs/int8-crops.png
    .venv/bin/python benchmarks/video_crops.py --look detailed
"""

import argparse
from pathlib import Path

import torch
from film_quality import SEED, film_x4, load_calendar

from common import (
    DATA,
    ROOT,
    crop_sheet,
    film_looks_at_quality_high,
    peer_tensor_upscalers,
    require,
    shipped_upscalers,
    upscaler,
)
from lumiere.degradations import functional as Fd
from lumiere.io.reader import open_source
from lumiere.ops import array_to_tensor, tensor_to_array

CROP = (96, 72)  # width, height in source pixels: 384x288 once upscaled
MARGIN = 16
NEIGHBOURS = 7  # frames on each side of the crop's frame that are read: the recurrent network sees them all
WINDOW_NEIGHBOURS = 2  # what the window network (video-x4) sees
# frame, left, top in source pixels
FILM_REGIONS = {"street-scene f60 shutters": (60, 150, 20), "street-scene f60 walking man": (60, 250, 250),
                "street-scene f120 tree and lamp": (120, 20, 150)}
CALENDAR_REGION = (20, 40, 40)  # frame, left, top of the 180x144 film-degraded input


def clip_patches(window: torch.Tensor, left: int, top: int) -> torch.Tensor:
    """The crop with its margin in each frame of a window (T, 3, H, W)."""
    width, height = CROP
    return window[..., top - MARGIN:top + height + MARGIN, left - MARGIN:left + width + MARGIN]


def rows_of_footage() -> list[tuple[str, torch.Tensor, torch.Tensor | None]]:
    """(label, clip of 2 NEIGHBOURS + 1 patches, truth crop at x4 or None) for every row."""
    around = {index: range(index - NEIGHBOURS, index + NEIGHBOURS + 1) for index, _, _ in FILM_REGIONS.values()}
    wanted = {i for indices in around.values() for i in indices}
    film = require(DATA / "film" / "street-scene.mp4")
    frames = {f.index: array_to_tensor(f.rgb) for f in open_source(film).frames() if f.index in wanted}
    out = [(label, clip_patches(torch.stack([frames[i] for i in around[index]]), left, top), None)
           for label, (index, left, top) in FILM_REGIONS.items()]
    truth = load_calendar()
    degraded = torch.nn.functional.pad(film_x4(truth, SEED), (MARGIN,) * 4, mode="replicate")
    index, left, top = CALENDAR_REGION
    width, height = CROP
    truth_crop = Fd.monochrome(truth[index:index + 1, :, top * 4:(top + height) * 4, left * 4:(left + width) * 4])[0]
    window = degraded[index - NEIGHBOURS:index + NEIGHBOURS + 1]
    out.append(("calendar f20, film-degraded", clip_patches(window, left + MARGIN, top + MARGIN), truth_crop))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, action="append", default=[],
                        help="also show this x4 file, given the frames a recurrent network gets")
    parser.add_argument("--out", type=Path, help="default: docs/video-crops.png, docs/video-detailed-crops.png")
    parser.add_argument("--precision", action="append", default=[],
                        help="show film-x4 and video-x4 computed in this precision (repeat; default: restore's)")
    parser.add_argument("--look", choices=("faithful", "detailed"), default="faithful")
    args = parser.parse_args()
    out = args.out or ROOT / "docs" / ("video-crops.png" if args.look == "faithful" else "video-detailed-crops.png")
    single = {"bicubic": lambda x: Fd.resize(x, (x.shape[-2] * 4, x.shape[-1] * 4), "bicubic").clamp(0, 1)}
    single.update(peer_tensor_upscalers())
    if args.look == "detailed":
        single["--look detailed"] = upscaler(look="detailed")
        clips = {}
        sequences = film_looks_at_quality_high()
    elif args.precision:
        single.update({f"film-x4 {p}": upscaler("film-x4", precision=p) for p in args.precision})
        clips = {f"video-x4 {p}": upscaler("video-x4", precision=p) for p in args.precision}
        sequences = {}
    else:
        single.update(shipped_upscalers(["film-x4", "film-x4-high"]))
        clips = {"video-x4 (restore)": upscaler("video-x4")}
        sequences = {"basicvsr-clean-x4 (clean films)": upscaler("basicvsr-clean-x4"),
                     "basicvsr-film-x4 (--quality high)": upscaler("basicvsr-film-x4")}
    sequences.update({path.stem: upscaler(str(path)) for path in args.model})
    width, height = CROP
    inner = (slice(None), slice(MARGIN * 4, (MARGIN + height) * 4), slice(MARGIN * 4, (MARGIN + width) * 4))
    rows = []
    for label, clip, truth in rows_of_footage():
        outputs = {name: method(clip[NEIGHBOURS:NEIGHBOURS + 1])[0][inner] for name, method in single.items()}
        window = clip[NEIGHBOURS - WINDOW_NEIGHBOURS:NEIGHBOURS + WINDOW_NEIGHBOURS + 1]
        outputs.update({name: method(window)[WINDOW_NEIGHBOURS][inner] for name, method in clips.items()})
        outputs.update({name: method(clip)[NEIGHBOURS][inner] for name, method in sequences.items()})
        if truth is not None:
            outputs["truth (gray)"] = truth
        rows.append((label, {name: tensor_to_array(image) for name, image in outputs.items()}))
        print(f"{label}: done", flush=True)
    crop_sheet(rows, out)
    print(f"wrote {out} ({', '.join([*single, *clips, *sequences])})")


if __name__ == "__main__":
    main()
