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


def _huge_png(path, width=30000, height=30000):
    """A PNG whose header declares `width` x `height`; the pixels never matter, as it must be refused unread."""
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk
                     + struct.pack(">I", zlib.crc32(chunk)) + b"\0" * 64)
    return path


def test_a_picture_over_the_pixel_limit_is_refused_before_decoding(tmp_path):
    huge = _huge_png(tmp_path / "huge.png")
    with pytest.raises(InputError, match=r"30000x30000 \(900 megapixels\).*LUMIERE_MAX_IMAGE_PIXELS"):
        read_image(huge)


@pytest.mark.parametrize("suffix,flags", [(".png", {}), (".jpg", {}), (".jpg", {"JPEG_PROGRESSIVE": 1}),
                                          (".tiff", {}), (".tif", {"TIFF_COMPRESSION": 1}), (".webp", {}),
                                          (".webp", {"WEBP_QUALITY": 101}), (".bmp", {})],
                         ids=["png", "jpeg", "progressive-jpeg", "tiff", "uncompressed-tiff", "webp",
                              "lossless-webp", "bmp"])
def test_the_pixel_limit_reads_each_kind_of_header(tmp_path, monkeypatch, suffix, flags):
    import cv2

    from lumiere.io.images import image_size

    path = tmp_path / f"x{suffix}"
    settings = [value for name, setting in flags.items() for value in (getattr(cv2, f"IMWRITE_{name}"), setting)]
    assert cv2.imwrite(str(path), np.full((30, 41, 3), 90, np.uint8), settings)
    assert image_size(path) == (41, 30)
    monkeypatch.setenv("LUMIERE_MAX_IMAGE_PIXELS", str(41 * 30))
    assert read_image(path).size == (41, 30)
    monkeypatch.setenv("LUMIERE_MAX_IMAGE_PIXELS", str(41 * 30 - 1))
    with pytest.raises(InputError, match="over the limit of"):
        read_image(path)
