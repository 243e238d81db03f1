import numpy as np
import pytest

from lumiere.errors import InputError, OutputError
from lumiere.io.images import Image, read_image, write_image


@pytest.mark.parametrize("suffix,dtype", [(".png", np.uint8), (".png", np.uint16), (".tiff", np.uint16),
                                          (".tiff", np.uint8)])
def test_round_trip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, np.iinfo(dtype).max, (5, 7, 3), dtype=dtype)
    path = tmp_path / f"x{suffix}"
    write_image(path, Image(rgb))
    back = read_image(path)
    assert back.rgb.dtype == dtype and np.array_equal(back.rgb, rgb)


def test_gray_and_alpha(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 77
    write_image(tmp_path / "a.png", Image(rgba[..., :3].copy(), rgba[..., 3].copy()))
    back = read_image(tmp_path / "a.png")
    assert back.alpha is not None and int(back.alpha[0, 0]) == 77 and int(back.rgb[0, 0, 0]) == 200


def test_exception(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("no")
    with pytest.raises(InputError, match="cannot read"):
        read_image(bad)
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "nothing.png")
    with pytest.raises(OutputError, match="alpha"):
        write_image(tmp_path / "x.jpg", Image(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8)))
