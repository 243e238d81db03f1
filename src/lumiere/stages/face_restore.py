"""Faces: a face-restoration network (GFPGAN or RestoreFormer, the user's file) run on every face found, on a
square crop that follows the face smoothly from frame to frame, blended back with a feathered edge.

Faces are found by `faces.find_faces` (OpenCV's own Haar cascades, three of which must agree) on the frame's
luma softened against grain. A Haar box
wanders a few pixels from frame to frame even on a still face, and a network shown a crop that wanders draws a
slightly different face each frame: the restored face would shimmer. So the boxes of the frames around each
frame (`radius` each side) are linked into tracks (nearest box of about the same size, a few missed frames
allowed), and each track's centre and size at the frame are a Gaussian-weighted straight-line fit over time:
jitter is averaged out, steady motion (a pan, a walk towards the camera) is followed without lag. A track must
be seen in two frames of the window (one-frame detections in film are mostly false), and a face missed for a
few frames between two sightings is still restored there, so faces do not blink in and out.

The crop is aligned as GFPGAN's training crops (FFHQ, facexlib's 512-pixel template) are, as far as a box
allows: the Haar cascades give no landmarks, and OpenCV's eye cascade finds both eyes on too few faces (none
on the faces of `film/street-scene.mp4`, about 40 px high) to measure a roll angle, so crops are upright. On
the Kodak and `color/bw-photos` faces where it did find both eyes, they lie 0.39 of the box down and 0.38 of
its width apart; the template puts them 0.47 of the crop down and 0.246 of it apart, hence the crop: 1.55 box
widths square, centred 0.44 of the box down.

Each output frame is a function of the frames within `radius` of it and nothing else (a `WindowStage`): a job
resumed at any chunk gives the same bits as one run through. A film that is gray (equal channels) stays gray:
only the restored face's luma is taken.
"""

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..engine.runner import ModelRunner
from ..errors import InputError, OptionError
from ..faces import Face, find_faces
from ..models.loader import resolve_model_path
from ..ops import BT601, luma_u8
from .base import WindowStage
from .settings import Option, StageSettings, option_value

FACE_SIZE = 512  # the side of the crops GFPGAN and RestoreFormer were trained on
CROP_SIDE = 1.55  # crop side in box widths: the whole head, as in FFHQ's alignment
CROP_CENTRE = 0.44  # crop centre, in box heights below the box's top
FEATHER = 0.08  # of the crop side: the blend fades in over this much at the crop's edges
DEFAULT_STRENGTH = 0.8
DEFAULT_RADIUS = 4  # frames each side whose boxes are averaged
DETECT_BLUR = 1 / 400  # of the shorter side: the Gaussian that takes grain off the picture faces are looked for in
MATCH_DISTANCE = 0.5  # centre distance, in box widths, below which boxes of neighbouring sightings are one face
MATCH_SIZE = 1.5  # ... and the larger box at most this many times the smaller
MAX_GAP = 3  # frames a face may be missed between two sightings and still be restored there
MIN_SIGHTINGS = 2  # a face must be found in this many frames of the window (fewer where the film is shorter)
GRAY_TOLERANCE = 1.5 / 255  # channels this close on average: a gray picture (a gray film decoded or enlarged)
FORWARDS = {
    # the networks take and give RGB in [-1, 1] and return a tuple whose first item is the picture; GFPGAN's
    # StyleGAN decoder would draw fresh noise each call: its stored noise keeps a frame's result repeatable
    "GFPGAN": lambda network, x: network(x * 2 - 1, return_rgb=False, randomize_noise=False)[0],
    "RestoreFormer": lambda network, x: network(x * 2 - 1)[0],
}


@dataclass(frozen=True)
class FaceRestoreSettings(StageSettings):
    model: str  # the user's GFPGAN or RestoreFormer file: lumiere ships no face weights
    strength: float = DEFAULT_STRENGTH  # share of the restored face blended in (1: all of it)
    radius: int = DEFAULT_RADIUS  # frames each side whose face boxes are averaged

    options = (
        Option("faces", "Restore faces with a face network file you give (GFPGAN or RestoreFormer, as spandrel "
                        "loads them; lumiere ships none). Runs after upscaling.", kind=str, metavar="MODEL"),
        Option("faces_strength", f"How much of the restored face to blend in, 0-1 (default {DEFAULT_STRENGTH:g}): "
                                 "lower keeps more of the film's own face.", bounds=(0, 1), field="strength"),
    )

    @classmethod
    def from_options(cls, values):
        model, strength = option_value(cls, values, "faces"), option_value(cls, values, "faces_strength")
        if model is None:
            if strength is not None:
                raise OptionError("$faces_strength sets how much of a restored face is kept: add $faces MODEL")
            return None
        return cls(model=str(model), strength=DEFAULT_STRENGTH if strength is None else strength)

    def build(self, film, runners):
        return [FaceRestoreStage(runners.get(self.model, ("faces",)), self)]

    def files(self, film):
        return [resolve_model_path(self.model)[1]]


def detect_faces(gray: np.ndarray) -> list[Face]:
    """`find_faces` on a uint8 (H, W) lightness picture, softened first: film grain breaks up the light and
    dark patches Haar cascades look for: on two grained, gray 48-frame clips of a Kodak face they agreed on 7
    and 12 frames as they were, on 42 and 44 softened by a Gaussian of 1/400 of the shorter side
    (benchmarks/face_boxes.py)."""
    sigma = min(gray.shape) * DETECT_BLUR
    return find_faces(cv2.GaussianBlur(gray, (0, 0), sigma) if sigma >= 0.5 else gray)


def link_tracks(sightings: list[list[Face]]) -> list[dict[int, Face]]:
    """The faces found in consecutive frames (`sightings[t]`: frame t's boxes) linked into tracks, each a
    {frame: box}: a box joins the track seen last within MAX_GAP frames whose box is nearest and about its size
    (largest boxes choose first), or starts a track of its own."""
    tracks: list[dict[int, Face]] = []
    for t, faces in enumerate(sightings):
        taken: set[int] = set()
        for face in sorted(faces, key=lambda face: -face.width):
            best, best_distance = None, MATCH_DISTANCE
            for k, track in enumerate(tracks):
                last = max(track)
                if k in taken or t - last > MAX_GAP + 1:
                    continue
                other = track[last]
                ratio = max(face.width, other.width) / min(face.width, other.width)
                distance = _centre_distance(face, other) / max(face.width, other.width)
                if ratio <= MATCH_SIZE and distance < best_distance:
                    best, best_distance = k, distance
            if best is None:
                tracks.append({t: face})
                best = len(tracks) - 1
            else:
                tracks[best][t] = face
            taken.add(best)
    return tracks


def _centre_distance(a: Face, b: Face) -> float:
    return float(np.hypot(a.x + a.width / 2 - b.x - b.width / 2, a.y + a.height / 2 - b.y - b.height / 2))


def smooth_track(track: dict[int, Face], center: int, radius: int) -> Face:
    """A track's box at frame `center`: centre and size fitted by a straight line over time with Gaussian
    weights (sigma `radius` / 2), so noise is averaged out and steady motion followed without lag; with fewer
    than three sightings, their weighted mean."""
    times = np.array(sorted(track), dtype=np.float64) - center
    boxes = np.array([[f.x + f.width / 2, f.y + f.height / 2, f.width, f.height]
                      for f in (track[t] for t in sorted(track))])
    weights = np.exp(-0.5 * (times / max(radius / 2, 0.5)) ** 2)
    if len(times) < 3:
        fitted = weights @ boxes / weights.sum()
    else:
        sw, st, stt = weights.sum(), weights @ times, weights @ times**2
        sy, sty = weights @ boxes, (weights * times) @ boxes
        fitted = (stt * sy - st * sty) / (sw * stt - st * st)  # the line's value at time 0
    cx, cy, width, height = (float(v) for v in fitted)
    return Face(cx - width / 2, cy - height / 2, width, height)


def faces_at(sightings: list[list[Face]], center: int, radius: int) -> list[Face]:
    """The smoothed boxes of the faces at `sightings[center]`, from the boxes found in a window of consecutive
    frames around it: the faces seen there, and those missed there for at most MAX_GAP frames between two
    sightings; each seen in at least MIN_SIGHTINGS frames of the window. Largest first."""
    needed = min(MIN_SIGHTINGS, len(sightings))
    faces = []
    for track in link_tracks(sightings):
        if len(track) < needed:
            continue
        before = [t for t in track if t <= center]
        after = [t for t in track if t >= center]
        if not before or not after or min(after) - max(before) > MAX_GAP + 1:
            continue
        faces.append(smooth_track(track, center, radius))
    return sorted(faces, key=lambda face: -face.width)


def crop_square(face: Face) -> tuple[int, int, int]:
    """(left, top, side) in whole pixels of the square crop that holds a face's whole head."""
    side = max(8, round(face.width * CROP_SIDE))
    left = round(face.x + face.width / 2 - side / 2)
    top = round(face.y + face.height * CROP_CENTRE - side / 2)
    return left, top, side


def _cut(image: np.ndarray, left: int, top: int, side: int) -> np.ndarray:
    """image[top:top + side, left:left + side], the part outside the picture mirrored in from its edges."""
    height, width = image.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + side), min(height, top + side)
    inside = image[y0:y1, x0:x1]
    pads = (y0 - top, top + side - y1, x0 - left, left + side - x1)
    if not any(pads):
        return inside
    mode = cv2.BORDER_REFLECT_101 if min(inside.shape[:2]) > 1 else cv2.BORDER_REPLICATE
    return cv2.copyMakeBorder(inside, *pads, mode)


def _resize(image: np.ndarray, side: int) -> np.ndarray:
    shrinking = side < image.shape[0]
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def blend_mask(side: int = FACE_SIZE) -> np.ndarray:
    """Float32 (side, side): 1 inside the crop, fading to 0 over its outer FEATHER."""
    margin = max(1, round(side * FEATHER))
    mask = np.zeros((side, side), np.float32)
    mask[margin:side - margin, margin:side - margin] = 1
    return cv2.GaussianBlur(mask, (0, 0), margin / 2)


class FaceRestoreStage(WindowStage):
    name = "faces"

    def __init__(self, runner: ModelRunner, settings: FaceRestoreSettings):
        if not 0 <= settings.radius <= 25:
            raise InputError(f"face box smoothing radius must be between 0 and 25 frames, got {settings.radius}")
        architecture = runner.descriptor.architecture
        if architecture not in FORWARDS:
            raise InputError(f"model {runner.descriptor.name} is {architecture}, not a face network lumiere runs "
                             f"({' or '.join(FORWARDS)})")
        self.runner, self.settings = runner, settings
        self.forward = FORWARDS[architecture]
        self.before = self.after = settings.radius
        self.mask = blend_mask()

    def start(self):
        return {}  # frame index -> the faces found in it: each frame is searched once

    def process_window(self, window, center, indices, memo, starts):
        for image, index in zip(window, indices):
            if index not in memo:
                memo[index] = detect_faces(luma_u8(image))
        for index in [index for index in memo if index < indices[0]]:
            del memo[index]
        faces = faces_at([memo[index] for index in indices], center, self.settings.radius)
        frame = window[center]
        if not faces or self.settings.strength == 0:
            return frame
        return self.restore(frame, faces)

    def restore(self, frame: torch.Tensor, faces: list[Face]) -> torch.Tensor:
        """The frame (3, H, W) with each face's crop restored and blended back, the smaller faces over the larger."""
        picture = frame.detach().float().cpu().permute(1, 2, 0).numpy()
        squares = [crop_square(face) for face in faces]
        crops = np.stack([_resize(_cut(picture, *square), FACE_SIZE) for square in squares])
        batch = torch.from_numpy(crops).permute(0, 3, 1, 2).clamp(0, 1)
        restored = self.runner.run(self.forward, batch).clamp(0, 1).cpu().permute(0, 2, 3, 1).numpy()
        gray = float((frame.amax(0) - frame.amin(0)).float().mean()) <= GRAY_TOLERANCE
        if gray:
            restored = np.repeat(restored @ np.array(BT601, np.float32)[:, None], 3, axis=-1)
        out = picture.copy()
        height, width = out.shape[:2]
        for (left, top, side), face in zip(squares, restored):
            face = _resize(face, side)
            weight = cv2.resize(self.mask, (side, side), interpolation=cv2.INTER_LINEAR)[..., None]
            weight = weight * self.settings.strength
            x0, y0 = max(0, left), max(0, top)
            x1, y1 = min(width, left + side), min(height, top + side)
            if x1 <= x0 or y1 <= y0:
                continue
            inside = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
            region = out[y0:y1, x0:x1]
            out[y0:y1, x0:x1] = region + weight[inside] * (face[inside] - region)
        result = torch.from_numpy(np.clip(out, 0, 1)).permute(2, 0, 1)
        return result.to(frame.device, frame.dtype)
