"""The detailed look's dotted lattice, measured: `lumiere.eval.metrics.lattice_peak_db` (the luma spectrum's peak
at the 4 px lattice's frequencies over its surroundings, in dB) and the fine detail each output has (top-octave
spectral power over bicubic's: `detail_ratio` against the bicubic enlargement), on x4 enlargements of real old
pictures that have no truth: crops of street-scene.mp4 (shutters, the walking man, the tree, a facade) and of
four historical black-and-white photos (`color/bw-photos`).

Rows: bicubic, Real-ESRGAN x4plus and animevideov3 (ncnn), film-x4 (faithful), `--look detailed` (film-x4 blended
0.7 towards film-x4-detailed, what upscale and restore run) and film-x4-detailed alone; then what a film gets at
`--quality high`, faithful (basicvsr-film-x4) and detailed (blended 0.7 towards basicvsr-film-x4-detailed), and
the detailed fine-tune alone: these recurrent networks get each street-scene crop with the 7 frames on each side
(15, a window of restore's), the photos alone. The target (issue 30): the detailed look's lattice figure at
x4plus's level without losing its detail figure.

    .venv/bin/python benchmarks/lattice.py
"""

import torch

from common import (
    DATA,
    film_looks_at_quality_high,
    peer_tensor_upscalers,
    print_table,
    require,
    save,
    shipped_upscalers,
    upscaler,
)
from lumiere.degradations import functional as Fd
from lumiere.eval.metrics import detail_ratio, lattice_peak_db
from lumiere.io.images import read_image
from lumiere.io.reader import open_source
from lumiere.ops import array_to_tensor

CROP = (160, 120)  # source pixels; 640x480 once enlarged
# frame, left, top
FILM_CROPS = {"shutters": (60, 130, 10), "walking man": (60, 230, 230), "tree and lamp": (120, 10, 140),
              "facade": (30, 420, 60)}
PHOTOS = 4
NEIGHBOURS = 7  # frames on each side of a film crop's that the recurrent networks read


def crops() -> dict[str, torch.Tensor]:
    """label -> clip (T, 3, h, w) whose middle frame is the crop: a street-scene crop with NEIGHBOURS frames on each
    side, a photo alone."""
    width, height = CROP
    wanted = {frame + offset for frame, _, _ in FILM_CROPS.values() for offset in range(-NEIGHBOURS, NEIGHBOURS + 1)}
    film = require(DATA / "film" / "street-scene.mp4")
    frames = {f.index: array_to_tensor(f.rgb) for f in open_source(film).frames() if f.index in wanted}
    out = {f"street-scene f{frame} {name}": torch.stack([frames[frame + offset][:, top:top + height, left:left + width]
                                                         for offset in range(-NEIGHBOURS, NEIGHBOURS + 1)])
           for name, (frame, left, top) in FILM_CROPS.items()}
    for path in sorted(require(DATA / "color" / "bw-photos").iterdir())[:PHOTOS]:
        picture = array_to_tensor(read_image(path).rgb)
        top, left = (picture.shape[1] - height) // 2, (picture.shape[2] - width) // 2
        out[f"bw-photos {path.stem}"] = picture[None, :, top:top + height, left:left + width]
    return out


def middle(clip: torch.Tensor) -> torch.Tensor:
    return clip[clip.shape[0] // 2][None]


def main() -> None:
    methods = {"bicubic": lambda x: Fd.resize(x, (x.shape[-2] * 4, x.shape[-1] * 4), "bicubic").clamp(0, 1),
               **peer_tensor_upscalers(), **shipped_upscalers(["film-x4"]),
               "--look detailed": upscaler(look="detailed"), **shipped_upscalers(["film-x4-detailed"])}
    recurrent = film_looks_at_quality_high()
    pictures = crops()
    outputs = {name: {label: method(middle(clip)).clamp(0, 1) for label, clip in pictures.items()}
               for name, method in methods.items()}
    outputs.update({name: {label: middle(method(clip)).clamp(0, 1) for label, clip in pictures.items()}
                    for name, method in recurrent.items()})
    rows = []
    for name, enlarged in outputs.items():
        lattice = torch.cat([lattice_peak_db(image, shave=8) for image in enlarged.values()])
        detail = torch.cat([detail_ratio(image, outputs["bicubic"][label], 8) for label, image in enlarged.items()])
        rows.append({"method": name, "lattice_db": round(lattice.mean().item(), 2),
                     "lattice_db_film": round(lattice[:len(FILM_CROPS)].mean().item(), 2),
                     "lattice_db_photos": round(lattice[len(FILM_CROPS):].mean().item(), 2),
                     "detail_vs_bicubic": round(detail.mean().item(), 2)})
        print(rows[-1], flush=True)
    print(f"x4 of {len(pictures)} crops of {CROP[0]}x{CROP[1]} (street-scene, bw-photos)")
    print_table(rows, ["method", "lattice_db", "lattice_db_film", "lattice_db_photos", "detail_vs_bicubic"])
    save("lattice", {"crops": list(pictures), "rows": rows})


if __name__ == "__main__":
    main()
