"""Shot cuts (issue 31): TransNetV2 (lumiere's port, the published weights) against today's detector
(before issue 31: thumbnails of consecutive frames correlating below 0.5, `motion.correlation`), on a reel built by
joining footage.

The reel (320x240, gray as old film, light grain on every frame): eight shots, each 40 frames: five pans over
wikimedia photos (2 px a frame, some shake; one whips along at 24 px a frame for 12 frames), calendar frames
0-30 (and 9 repeated back), and street-scene frames 0-39 and 100-139 last (the same street, later: a jump
cut). Between them, in turn: hard cuts, dissolves over 12 frames, fades to black (8 frames out, 4 black, 8 in).
Inside the shots, things that are not cuts, as old film has them: a flash (two frames 1.8x as bright), the whip
pan, a flicker burst (8 frames at gains 0.6-1.4), a damaged splice (two frames covered in dirt, scratches and a
frame-line jump of 30 px). A transition is found when a detector reports a boundary within its frames (2 frames
of slack); any other boundary is a false cut, counted where it fell.

    .venv/bin/python benchmarks/shot_cuts.py
"""

import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, print_table, require, save  # noqa: E402
from lumiere.degradations import functional as Fd  # noqa: E402
from lumiere.io.images import read_image  # noqa: E402
from lumiere.io.reader import open_source  # noqa: E402
from lumiere.models.loader import load_model  # noqa: E402
from lumiere.models.transnet import HEIGHT, WIDTH, cut_probabilities  # noqa: E402
from lumiere.motion import correlation  # noqa: E402
from lumiere.ops import array_to_tensor, luma_u8  # noqa: E402

SIZE = (240, 320)
SHOT = 40
SEED = 1896


def _gray(clip: torch.Tensor) -> torch.Tensor:
    return Fd.monochrome(clip).clamp(0, 1)


def _fit(frames: torch.Tensor) -> torch.Tensor:
    return F.interpolate(frames, size=SIZE, mode="area").clamp(0, 1)


def street_shots() -> list[torch.Tensor]:
    frames = [array_to_tensor(f.rgb) for f in open_source(require(DATA / "film" / "street-scene.mp4")).frames()]
    return [_fit(torch.stack(frames[0:SHOT])), _fit(torch.stack(frames[100:100 + SHOT]))]


def calendar_shot() -> torch.Tensor:
    folder = require(DATA / "bench" / "vsr" / "Vid4" / "calendar")
    frames = [array_to_tensor(read_image(p).rgb) for p in sorted(folder.glob("*.png"))]
    return _fit(torch.stack(frames + frames[-2:-11:-1]))


def pan_shot(photo: Path, speeds: list[float], generator: torch.Generator) -> torch.Tensor:
    """A pan across `photo`, moving speeds[i] px before frame i, with some shake."""
    picture = array_to_tensor(read_image(photo).rgb)
    height, width = picture.shape[-2:]
    travel = np.cumsum(speeds)
    scale = max(SIZE[0] / height, (SIZE[1] + travel[-1] + 8) / width) * 1.05
    picture = F.interpolate(picture[None], scale_factor=scale, mode="area")[0]
    frames = len(speeds)
    shake = torch.randn(frames, 2, generator=generator)
    top = (picture.shape[-2] - SIZE[0]) // 2
    shots = []
    for index in range(frames):
        x = int(round(travel[index] + shake[index, 0].item()))
        y = int(round(top + shake[index, 1].item()))
        x, y = max(0, min(x, picture.shape[-1] - SIZE[1])), max(0, min(y, picture.shape[-2] - SIZE[0]))
        shots.append(picture[:, y:y + SIZE[0], x:x + SIZE[1]])
    return torch.stack(shots)


def damage(frame: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    def draw(count=60):
        return torch.rand(count, generator=generator)
    specks = torch.stack([torch.zeros(60), draw(), draw(), 2 + 10 * draw(), (draw() > 0.5).float(), 0.6 + 0.4 * draw()],
                         1)
    out = Fd.paint_specks(frame[None], specks)
    for position in torch.rand(4, generator=generator).tolist():
        out = Fd.vertical_scratch(out, position, 2.0, 0.9, 0.8, wobble=3.0)
    return torch.roll(out[0], 30, dims=1)  # the frame line jumps at the splice


def build_reel() -> tuple[torch.Tensor, list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """(frames, transitions as (kind, first frame, last frame), non-cuts as (kind, first, last))."""
    generator = torch.Generator().manual_seed(SEED)
    photos = sorted(require(DATA / "train" / "wikimedia").glob("*.jpg"))
    whip = [2.0] * 14 + [24.0] * 12 + [2.0] * (SHOT - 26)  # a whip pan inside the shot
    shots = [*street_shots(), calendar_shot(),
             *(pan_shot(photos[k], whip if k == 19 else [2.0] * SHOT, generator) for k in (3, 11, 19, 27, 35))]
    shots = [shots[k] for k in (3, 2, 4, 5, 6, 7, 0, 1)]  # the two street shots last: the jump cut between them
    not_cuts: list[tuple[str, int, int]] = []

    def mark(shot_index: int, kind: str, start: int, length: int, change) -> None:
        shot = shots[shot_index].clone()
        shot[start:start + length] = change(shot[start:start + length])
        shots[shot_index] = shot
        not_cuts.append((kind, shot_index, start, length))

    mark(1, "flash", 20, 2, lambda clip: (clip * 1.8).clamp(0, 1))
    not_cuts.append(("fast pan", 3, 14, 12))  # drawn into the shot's own pan above
    mark(5, "flicker burst", 16, 8, lambda clip: (clip * (0.6 + 0.8 * torch.rand(len(clip), 1, 1, 1,
                                                                                   generator=generator))).clamp(0, 1))
    mark(6, "damaged splice", 20, 2, lambda clip: torch.stack([damage(frame, generator) for frame in clip]))

    kinds = ["hard cut", "dissolve", "fade to black", "hard cut", "dissolve", "fade to black", "hard cut (jump)"]
    reel, transitions, starts = [shots[0]], [], {0: 0}
    position = SHOT
    for index, kind in enumerate(kinds):
        after = shots[index + 1]
        if kind.startswith("hard cut"):
            transitions.append((kind, position - 1, position))
            reel.append(after)
            starts[index + 1] = position
            position += SHOT
        elif kind == "dissolve":
            before = reel[-1]
            weights = torch.linspace(0, 1, 14)[1:-1].view(-1, 1, 1, 1)
            blend = before[-12:] * (1 - weights) + after[:12] * weights
            reel[-1] = before[:-12]
            reel += [blend, after[12:]]
            transitions.append((kind, position - 13, position))
            starts[index + 1] = position - 12
            position += SHOT - 12
        else:
            before = reel[-1]
            out_weights = torch.linspace(1, 0, 9)[1:].view(-1, 1, 1, 1)
            reel[-1] = torch.cat([before[:-8], before[-8:] * out_weights])
            black = torch.zeros(4, *after.shape[1:])
            in_weights = torch.linspace(0, 1, 9)[:-1].view(-1, 1, 1, 1)
            reel += [black, torch.cat([after[:8] * in_weights, after[8:]])]
            transitions.append((kind, position - 9, position + 12))
            starts[index + 1] = position + 4
            position += 4 + SHOT
    frames = _gray(torch.cat(reel))
    frames = Fd.film_grain(frames, 0.03, 1.5, generator).clamp(0, 1)
    # where each non-cut landed in the reel
    placed = [(kind, starts[shot] + start, starts[shot] + start + length - 1) for kind, shot, start, length in not_cuts]
    return frames, transitions, placed


OLD_CUT_CORRELATION = 0.5


def old_detector(frames: torch.Tensor) -> list[int]:
    """Boundaries (i: a new shot starts at frame i) by the test the stages used before TransNetV2: 32x24
    thumbnails of consecutive frames correlating below 0.5."""
    lumas = [luma_u8(frame) for frame in frames]
    return [index for index in range(1, len(lumas))
            if correlation(lumas[index - 1], lumas[index]) < OLD_CUT_CORRELATION]


def transnet_detector(frames: torch.Tensor) -> list[int]:
    network = load_model("transnetv2", ("shots",)).module
    small = torch.stack([torch.from_numpy(cv2.resize(frame.permute(1, 2, 0).numpy(), (WIDTH, HEIGHT),
                                                     interpolation=cv2.INTER_AREA)).permute(2, 0, 1)
                         for frame in frames])
    with torch.inference_mode():
        probabilities = cut_probabilities(network, small)
    # the network marks a shot's last frame (and a transition's frames): a new shot starts after each
    return [index + 1 for index in (probabilities[:, 0] > 0.5).nonzero().flatten().tolist()
            if index + 1 < len(frames)]


def score(boundaries: list[int], transitions, not_cuts, slack: int = 2) -> dict:
    found = {kind: 0 for kind, _, _ in transitions}
    counted = {kind: 0 for kind, _, _ in transitions}
    explained = set()
    for kind, first, last in transitions:
        counted[kind] += 1
        hits = [b for b in boundaries if first - slack <= b <= last + slack]
        found[kind] += bool(hits)
        explained |= set(hits)
    false = [b for b in boundaries if b not in explained]
    where = {kind: sum(first - slack <= b <= last + slack for b in false) for kind, first, last in not_cuts}
    where["elsewhere"] = len(false) - sum(where.values())
    return {"misses": {kind: counted[kind] - found[kind] for kind in counted}, "false_cuts": where,
            "missed": sum(counted.values()) - sum(found.values()), "false": len(false)}


def main() -> None:
    torch.set_num_threads(2)
    frames, transitions, not_cuts = build_reel()
    print(f"reel: {len(frames)} frames, {len(transitions)} transitions, {len(not_cuts)} things that are not cuts")
    rows = []
    detectors = {"thumbnail correlation (before)": old_detector, "TransNetV2 (lumiere's port)": transnet_detector}
    for name, detect in detectors.items():
        boundaries = detect(frames)
        result = score(boundaries, transitions, not_cuts)
        row = {"detector": name, "transitions_missed": f"{result['missed']} of {len(transitions)}",
               "false_cuts": result["false"],
               **{f"missed {kind}": n for kind, n in result["misses"].items()},
               **{f"false at {kind}": n for kind, n in result["false_cuts"].items()}, "boundaries": boundaries}
        rows.append(row)
    columns = [c for c in rows[0] if c != "boundaries"]
    print_table(rows, columns)
    save("shot_cuts", {"transitions": transitions, "not_cuts": not_cuts, "rows": rows})


if __name__ == "__main__":
    main()
