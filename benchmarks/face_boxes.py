"""How much the face box the `--faces` stage crops by jitters, before and after its smoothing over time.

Boxes are found per frame as the stage finds them (`detect_faces`: `faces.find_faces`, three Haar cascades that
must agree, on the luma softened against grain),
then smoothed by the stage's own `faces_at` (a track's Gaussian-weighted straight-line fit over +-radius frames).

Clips:
- `film/street-scene.mp4` (150 frames of a real early street film);
- two synthetic gray "films" with ground truth: Kodak's portrait kodim04 filmed by a camera that zooms in slowly
  and pans, with a small random shake (0.7 px RMS per axis), blurred and grained; a close-up (face ~220 px
  high) and a medium shot (face ~90 px).

Figures (pixels, the frame's own):
- jitter: the RMS of the box centre's second difference over time divided by sqrt(6): for a centre that moves
  steadily plus white noise of RMS s per axis this is s*sqrt(2) (both axes together); steady motion adds
  nothing. Computed on every frame whose two neighbours also have a box; the true centre's own figure (the
  camera shake) is given beside it;
- error (synthetic clips): RMS distance of the box centre from the true face centre (the camera's transform
  applied to the box centre found on the still portrait), after removing the mean offset (the detector's
  own bias, which does not move the crop from frame to frame);
- frames: frames with a box (raw) / with a face restored (smoothed; bridged gaps included).

    .venv/bin/python benchmarks/face_boxes.py
"""

import time

import cv2
import numpy as np

from common import DATA, print_table, require, save
from lumiere.faces import Face, find_faces
from lumiere.io.reader import open_source
from lumiere.stages.face_restore import DEFAULT_RADIUS, detect_faces, faces_at

FRAMES = 48
SHAKE = 0.7  # px RMS per axis
RADII = (2, DEFAULT_RADIUS, 8)


def centre(face: Face) -> np.ndarray:
    return np.array([face.x + face.width / 2, face.y + face.height / 2])


def synthetic(portrait: np.ndarray, zoom: tuple[float, float], size=(480, 360), seed=0):
    """Gray frames of `portrait` filmed with a slow zoom and pan and a small shake, and each frame's 2x3 transform
    from the portrait's pixels."""
    rng = np.random.default_rng(seed)
    gray = cv2.cvtColor(portrait, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    (face,) = find_faces(cv2.cvtColor(portrait, cv2.COLOR_RGB2GRAY))
    anchor = centre(face)
    frames, transforms = [], []
    for t in range(FRAMES):
        s = zoom[0] + (zoom[1] - zoom[0]) * t / (FRAMES - 1)
        target = np.array([size[0] * 0.45 + 40 * t / (FRAMES - 1), size[1] * 0.5]) + rng.normal(0, SHAKE, 2)
        matrix = np.array([[s, 0, target[0] - s * anchor[0]], [0, s, target[1] - s * anchor[1]]])
        picture = cv2.warpAffine(gray, matrix, size, flags=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC,
                                 borderMode=cv2.BORDER_REFLECT)
        picture = cv2.GaussianBlur(picture, (0, 0), 0.8) + rng.normal(0, 0.035, picture.shape).astype(np.float32)
        frames.append(np.clip(np.rint(picture * 255), 0, 255).astype(np.uint8))
        transforms.append(matrix)
    truth = np.array([m[:, :2] @ anchor + m[:, 2] for m in transforms])
    return frames, truth


def jitter(centres: dict[int, np.ndarray]) -> float | None:
    second = [centres[t - 1] - 2 * centres[t] + centres[t + 1] for t in centres
              if t - 1 in centres and t + 1 in centres]
    return float(np.sqrt(np.mean([d @ d for d in second]) / 6)) if second else None


def error(centres: dict[int, np.ndarray], truth: np.ndarray) -> float | None:
    if not centres:
        return None
    offsets = np.array([centres[t] - truth[t] for t in sorted(centres)])
    offsets -= offsets.mean(0)
    return float(np.sqrt((offsets**2).sum(1).mean()))


def nearest(faces: list[Face], point: np.ndarray | None) -> Face | None:
    """The face nearest `point` (the true centre), or the largest where there is no truth."""
    if not faces:
        return None
    return faces[0] if point is None else min(faces, key=lambda f: float(np.linalg.norm(centre(f) - point)))


def measure(name: str, grays: list[np.ndarray], truth: np.ndarray | None) -> list[dict]:
    started = time.perf_counter()
    sightings = [detect_faces(gray) for gray in grays]
    seconds = (time.perf_counter() - started) / len(grays)
    def point(t):
        return None if truth is None else truth[t]
    raw = {t: centre(face) for t, faces in enumerate(sightings) if (face := nearest(faces, point(t)))}
    rows = []
    row = {"clip": name, "boxes": "raw (detect_faces)", "frames": f"{len(raw)}/{len(grays)}",
           "detect ms/frame": round(seconds * 1000)}
    rows.append(row | figures(raw, truth))
    for radius in RADII:
        smooth = {}
        for t in range(len(grays)):
            first = max(0, t - radius)
            face = nearest(faces_at(sightings[first:t + radius + 1], t - first, radius), point(t))
            if face is not None:
                smooth[t] = centre(face)
        rows.append({"clip": name, "boxes": f"smoothed, radius {radius}", "frames": f"{len(smooth)}/{len(grays)}"}
                    | figures(smooth, truth))
    return rows


def figures(centres: dict[int, np.ndarray], truth: np.ndarray | None) -> dict:
    def fmt(value):
        return "n/a" if value is None else round(value, 2)
    out = {"jitter px": fmt(jitter(centres))}
    if truth is not None:
        out["error px"] = fmt(error(centres, truth))
        out["true jitter px"] = fmt(jitter(dict(enumerate(truth))))
    return out


def main():
    film = require(DATA / "film" / "street-scene.mp4")
    portrait = cv2.imread(str(require(DATA / "color" / "kodak" / "kodim04.png")))[..., ::-1]
    rows = []
    grays = [cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2GRAY) for frame in open_source(film).frames()]
    rows += measure("street-scene.mp4", grays, None)
    for name, zoom in (("kodim04 close-up", (0.55, 0.65)), ("kodim04 medium shot", (0.22, 0.26))):
        frames, truth = synthetic(np.ascontiguousarray(portrait), zoom)
        rows += measure(name, frames, truth)
    columns = ["clip", "boxes", "frames", "jitter px", "error px", "true jitter px", "detect ms/frame"]
    print_table(rows, columns)
    save("face_boxes", {"frames": FRAMES, "shake_px": SHAKE, "radii": RADII, "rows": rows})


if __name__ == "__main__":
    main()
