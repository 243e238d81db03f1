"""Side-by-side crops on real old film: bicubic vs the peer vs lumiere's models, for people to look at.

Writes docs/film-x4-crops.png from frames of ../shared/data/film/street-scene.mp4 (x4).

    .venv/bin/python benchmarks/film_crops.py
"""

import contextlib
import io

import numpy as np

from common import DATA, ROOT, peer_upscaler, require, shipped_upscalers
from lumiere.compare import _label
from lumiere.convert import array_to_tensor, tensor_to_array
from lumiere.degradations.functional import resize
from lumiere.io.images import Image, write_image
from lumiere.io.reader import open_source

FRAMES = (60, 100)
CROP = (200, 230, 160, 120)  # left, top, width, height in the 640x480 source: the walking man, the street


def main() -> None:
    film = require(DATA / "film" / "street-scene.mp4")
    wanted = {f.index: f.rgb for f in open_source(film).frames() if f.index in FRAMES}
    methods = {"bicubic": lambda x: resize(x, (x.shape[-2] * 4, x.shape[-1] * 4), "bicubic").clamp(0, 1)}
    peer = peer_upscaler()
    if peer is not None:
        def run_peer(x):
            with contextlib.redirect_stdout(io.StringIO()):
                return array_to_tensor(np.ascontiguousarray(peer(tensor_to_array(x[0]))))[None]
        methods["realesr-animevideov3-x4"] = run_peer
    methods.update(shipped_upscalers(["sr-x4", "film-x4"]))
    left, top, width, height = CROP
    rows = []
    for index in FRAMES:
        # Upscale a margin around the crop so no method sees an artificial border, then cut the crop.
        margin = 16
        patch = wanted[index][top - margin:top + height + margin, left - margin:left + width + margin]
        x = array_to_tensor(np.ascontiguousarray(patch))[None]
        tiles = []
        for name, method in methods.items():
            out = tensor_to_array(method(x)[0])[margin * 4:(margin + height) * 4, margin * 4:(margin + width) * 4]
            tile = np.ascontiguousarray(out)
            _label(tile, name, 0)
            tiles.append(tile)
        rows.append(np.concatenate(tiles, axis=1))
    sheet = np.concatenate(rows, axis=0)
    target = ROOT / "docs" / "film-x4-crops.png"
    target.parent.mkdir(exist_ok=True)
    write_image(target, Image(sheet))
    print(f"wrote {target.relative_to(ROOT)} ({', '.join(methods)}; frames {FRAMES})")


if __name__ == "__main__":
    main()
