import numpy as np
import pytest

from lumiere.cielab import lightness
from lumiere.faces import Face, face_mask, find_faces
from lumiere.io.images import read_image
from lumiere.ops import array_to_tensor

from .conftest import data_path


def _gray(path) -> np.ndarray:
    luma = lightness(array_to_tensor(read_image(path).rgb)[None])[0, 0].numpy()
    return np.clip(luma * 2.55 + 0.5, 0, 255).astype(np.uint8)


def test_smoke():
    gray = _gray(data_path("color", "kodak", "kodim04.png"))  # a woman in a hat, face on
    faces = find_faces(gray)
    assert len(faces) == 1
    face = faces[0]
    assert 60 < face.x < 140 and 150 < face.y < 250 and 300 < face.width < 420


def test_no_faces_in_a_window_with_flowers():
    # one cascade alone finds a face in this picture's window; the three together do not
    assert find_faces(_gray(data_path("color", "kodak", "kodim07.png"))) == []


def test_cardinality():
    mask = face_mask(40, 60, [Face(10, 5, 20, 20)])
    assert mask.shape == (40, 60) and mask.dtype == np.float32
    assert mask[16, 20] == pytest.approx(1.0, abs=0.01) and mask[0, 0] == 0 and mask[39, 59] == 0
    assert face_mask(8, 8, []).max() == 0
    assert find_faces(np.full((64, 48), 128, np.uint8)) == []


def test_exception():
    with pytest.raises(ValueError, match=r"expected a uint8 \(H, W\) array, got float32 of shape \(4, 4\)"):
        find_faces(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"got uint8 of shape \(4, 4, 3\)"):
        find_faces(np.zeros((4, 4, 3), np.uint8))
