"""A crop of clean Vid4 calendar (MATLAB-style bicubic x4, frame 20) enlarged by bicubic, video-x4 and
basicvsr-clean-x4 (what restore enlarges a clean film with, given the 15 frames around the crop), beside the truth.

    .venv/bin/python benchmarks/clean_video_crop.py [docs/clean-video-crop.png]
"""

import sys
from pathlib import Path

from film_quality import load_calendar

from common import ROOT, crop_sheet, upscaler
from lumiere.degradations import functional as Fd
from lumiere.ops import tensor_to_array

FRAME, LEFT, TOP, WIDTH, HEIGHT, MARGIN = 20, 40, 40, 96, 72, 16  # in the 180x144 input
NEIGHBOURS = 7


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "clean-video-crop.png"
    hr = load_calendar()
    lr = Fd.quantize(Fd.resize(hr, (hr.shape[-2] // 4, hr.shape[-1] // 4), "bicubic").clamp(0, 1))
    clip = lr[FRAME - NEIGHBOURS:FRAME + NEIGHBOURS + 1, :, TOP - MARGIN:TOP + HEIGHT + MARGIN,
              LEFT - MARGIN:LEFT + WIDTH + MARGIN]
    inner = (slice(None), slice(MARGIN * 4, (MARGIN + HEIGHT) * 4), slice(MARGIN * 4, (MARGIN + WIDTH) * 4))
    middle = clip[NEIGHBOURS:NEIGHBOURS + 1]
    tiles = {"bicubic": Fd.resize(middle, (middle.shape[-2] * 4, middle.shape[-1] * 4), "bicubic").clamp(0, 1)[0],
             "video-x4": upscaler("video-x4")(clip[NEIGHBOURS - 2:NEIGHBOURS + 3])[2],
             "basicvsr-clean-x4 (restore's choice)": upscaler("basicvsr-clean-x4")(clip)[NEIGHBOURS]}
    tiles = {name: image[inner] for name, image in tiles.items()}
    tiles["truth"] = hr[FRAME, :, TOP * 4:(TOP + HEIGHT) * 4, LEFT * 4:(LEFT + WIDTH) * 4]
    crop_sheet([("calendar f20, clean (bicubic x4)", {k: tensor_to_array(v) for k, v in tiles.items()})], out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
