"""Repair on real old film, for people to look at: frames of ../shared/data/film/street-scene.mp4 before and
after `--repair`, with what was found marked.

Prints, for each frame shown, how many pixels repair changed by more than 2 levels, and writes
docs/repair-crops.png (2x, left to right: the film, what was found in red, the repaired frame).

    .venv/bin/python benchmarks/repair_crops.py
"""

import numpy as np
import torch

from common import DATA, ROOT, print_table, require, save
from lumiere.compare import _label
from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.io.images import Image, write_image
from lumiere.io.reader import FrameInfo, open_source
from lumiere.ops import array_to_tensor, tensor_to_array
from lumiere.stages.repair import RepairSettings, repair_stage

FRAMES = (31, 7)  # a brief dashed scratch down the wall and shutter; the walking man's shirt, a real thin line
CROPS = {31: (500, 0, 120, 340), 7: (110, 200, 120, 200)}  # left, top, width, height in the 640x480 source


def main() -> None:
    film = require(DATA / "film" / "street-scene.mp4")
    first, last = min(FRAMES) - 2, max(FRAMES) + 2
    frames = {f.index: f.rgb for f in open_source(film).frames() if first <= f.index <= last}
    stage = repair_stage(RepairSettings(), Runners(RunnerSettings("cpu")))
    items = ((FrameInfo(i, i, 1), array_to_tensor(frames[i])) for i in range(first, last + 1))
    with torch.inference_mode():
        repaired = {frame.index: tensor_to_array(image) for frame, image in stage.stream(items)}
    rows, tiles = [], []
    for index in FRAMES:
        left, top, width, height = CROPS[index]
        before = frames[index][top:top + height, left:left + width]
        after = repaired[index][top:top + height, left:left + width]
        changed = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=2) > 2
        marked = before.copy()
        marked[changed] = (255, 0, 0)
        panels = []
        for name, panel in [("film", before), ("found", marked), ("repaired", after)]:
            panel = np.ascontiguousarray(panel.repeat(2, axis=0).repeat(2, axis=1))
            _label(panel, name, 0)
            panels.append(np.pad(panel, ((0, 0), (0, 4), (0, 0)), constant_values=255))
        tiles.append(np.concatenate(panels, axis=1))
        whole = np.abs(repaired[index].astype(np.int16) - frames[index].astype(np.int16)).max(axis=2) > 2
        rows.append({"frame": index, "pixels_changed_in_crop": int(changed.sum()),
                     "pixels_changed_in_frame": int(whole.sum())})
    height = max(tile.shape[0] for tile in tiles)
    sheet = np.concatenate([np.pad(tile, ((0, height - tile.shape[0]), (0, 12), (0, 0)), constant_values=255)
                            for tile in tiles], axis=1)
    target = ROOT / "docs" / "repair-crops.png"
    write_image(target, Image(sheet))
    print_table(rows, list(rows[0]))
    save("repair_crops", {"frames": rows})
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
