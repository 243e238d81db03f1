"""Named degradation recipes: how training pairs are made from clean material."""

from collections.abc import Callable

from .transforms import (
    Compose,
    Degradation,
    Downsample,
    GaussianBlur,
    GaussianNoise,
    JpegCompression,
    Quantize,
    RandomApply,
)


def bicubic(scale: int) -> Degradation:
    """The classic SR protocol: antialiased bicubic downsampling, stored as 8 bit.

    Mild blur, noise and compression are mixed in now and then so the network
    does not break on real, slightly imperfect input, while staying faithful to
    the bicubic benchmarks.
    """
    return Compose([
        RandomApply(GaussianBlur(sigma=(0.3, 0.8), anisotropic=False), p=0.1),
        Downsample(scale, modes=("bicubic",)),
        RandomApply(GaussianNoise(sigma=(0.5 / 255, 2 / 255)), p=0.15),
        RandomApply(JpegCompression(quality=(85, 95)), p=0.15),
        Quantize(),
    ])


RECIPES: dict[str, Callable[[int], Degradation]] = {
    "bicubic": bicubic,
}


def build_recipe(name: str, scale: int) -> Degradation:
    try:
        return RECIPES[name](scale)
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}") from None
