"""Faces found in a picture's lightness, with the Haar cascades that ship inside OpenCV (nothing is downloaded).

One cascade alone finds faces in windows, flowers and signs; a face counts only where three of OpenCV's
frontal-face cascades agree, which keeps nearly every face at least 1/25 of the picture high and drops most of
the rest (checked by eye on Kodak and `color/bw-photos`). Profiles and faces turned away are not found.
"""

import os
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

CASCADES = ("haarcascade_frontalface_alt2.xml", "haarcascade_frontalface_default.xml",
            "haarcascade_frontalface_alt.xml")
DETECT_SIDE = 720  # pictures are searched with their shorter side at most this long: faster, same faces
SMALLEST = 1 / 25  # of the searched picture's shorter side: smaller faces are not looked for
AGREEMENT = 0.4  # intersection over union at which two cascades found the same face


@dataclass(frozen=True)
class Face:
    """A face's box in pixels of the picture it was found in."""

    x: float
    y: float
    width: float
    height: float

    def scaled(self, factor: float) -> "Face":
        return Face(self.x * factor, self.y * factor, self.width * factor, self.height * factor)

    def overlap(self, other: "Face") -> float:
        """Intersection over union of the two boxes."""
        across = max(0.0, min(self.x + self.width, other.x + other.width) - max(self.x, other.x))
        down = max(0.0, min(self.y + self.height, other.y + other.height) - max(self.y, other.y))
        shared = across * down
        return shared / (self.width * self.height + other.width * other.height - shared)


@lru_cache(maxsize=1)
def _cascades() -> tuple["cv2.CascadeClassifier", ...]:
    folder = cv2.data.haarcascades
    cascades = tuple(cv2.CascadeClassifier(os.path.join(folder, name)) for name in CASCADES)
    if any(cascade.empty() for cascade in cascades):
        raise RuntimeError(f"OpenCV's face cascades are missing from {folder}")
    return cascades


def find_faces(gray: np.ndarray, smallest: float = SMALLEST) -> list[Face]:
    """Frontal faces in a uint8 (H, W) lightness picture, as boxes in its pixels, largest first."""
    if not isinstance(gray, np.ndarray) or gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W) array, got {getattr(gray, 'dtype', type(gray).__name__)} "
                         f"of shape {getattr(gray, 'shape', None)}")
    factor = min(1.0, DETECT_SIDE / min(gray.shape))
    if factor < 1:
        gray = cv2.resize(gray, (round(gray.shape[1] * factor), round(gray.shape[0] * factor)),
                          interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    side = max(20, round(min(gray.shape) * smallest))
    found = [[Face(*map(float, box)) for box in cascade.detectMultiScale(gray, 1.1, 4, minSize=(side, side))]
             for cascade in _cascades()]
    agreed = [face for face in found[0] if all(any(face.overlap(other) > AGREEMENT for other in others)
                                                for others in found[1:])]
    return sorted((face.scaled(1 / factor) for face in agreed), key=lambda face: -face.width)


def face_mask(height: int, width: int, faces: list[Face]) -> np.ndarray:
    """Float32 (H, W) in [0, 1]: 1 on the skin of each face (an ellipse from brow to chin inside its box),
    feathered to 0 over a tenth of the face's width."""
    mask = np.zeros((height, width), np.float32)
    for face in faces:
        centre = (round(face.x + face.width / 2), round(face.y + face.height * 0.55))
        axes = (max(1, round(face.width * 0.38)), max(1, round(face.height * 0.5)))
        ellipse = np.zeros_like(mask)
        cv2.ellipse(ellipse, centre, axes, 0, 0, 360, 1.0, -1)
        sigma = max(0.5, face.width / 10)
        mask = np.maximum(mask, cv2.GaussianBlur(ellipse, (0, 0), sigma))
    return mask
