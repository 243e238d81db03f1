"""Named degradation recipes: how training pairs and example damage are made from clean material."""

from collections.abc import Callable

from .transforms import (
    Compose,
    DefocusBlur,
    Degradation,
    Downsample,
    Dust,
    Fading,
    FilmGrain,
    Flicker,
    GateWeave,
    GaussianBlur,
    GaussianNoise,
    H264Compression,
    JpegCompression,
    LineScratches,
    Monochrome,
    OneOf,
    Quantize,
    RandomApply,
    Vignette,
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


def _film_damage(scale: int) -> list[Degradation]:
    """First order: the film itself. Lens blur, the resolution lost to the copy, grain, dust, scratches.

    At x1 (cleaning) no blur is added: a cleaner that learned to sharpen would change every clean pixel too.
    """
    steps: list[Degradation] = []
    if scale > 1:
        steps += [
            RandomApply(OneOf([GaussianBlur(sigma=(0.3, 1.8)), DefocusBlur(radius=(0.8, 1.8))], [0.85, 0.15]), p=0.8),
            Downsample(scale, modes=("bicubic", "bilinear", "area")),
        ]
    steps += [
        RandomApply(FilmGrain(), p=0.8),
        RandomApply(Dust(), p=0.5),
        RandomApply(LineScratches(), p=0.3),
    ]
    return steps


def _transfer(scale: int) -> list[Degradation]:
    """Second order: the transfer to digital. Scanner softness (not at x1, as above), noise, compression."""
    softness = [RandomApply(GaussianBlur(sigma=(0.2, 0.5)), p=0.2)] if scale > 1 else []
    return softness + [
        RandomApply(GaussianNoise(sigma=(1 / 255, 4 / 255)), p=0.2),
        OneOf([JpegCompression(quality=(50, 95)), H264Compression(crf=(18, 28)), Quantize()], [0.5, 0.1, 0.4]),
        Quantize(),
    ]


def film(scale: int) -> Degradation:
    """What a single-frame network learns to undo: blur, lost resolution, grain, dust, scratches, compression.

    Damage that one frame cannot reveal (flicker, weave, fading) is left to the temporal stages.
    """
    return Compose(_film_damage(scale) + _transfer(scale))


def film_look(scale: int) -> Degradation:
    """Everything an old print shows, for looking at and for benchmarks: `film` plus flicker, gate weave,
    fading, vignetting and monochrome or sepia toning."""
    return Compose(_film_damage(scale) + [
        RandomApply(Fading(), p=0.7),
        RandomApply(Vignette(), p=0.6),
        RandomApply(Flicker(), p=0.8),
        RandomApply(GateWeave(), p=0.7),
        RandomApply(Monochrome(), p=0.8),
    ] + _transfer(scale))


def film_luma(scale: int) -> Degradation:
    """What old film does to the lightness a colorizer sees: faded, toned, grainy, soft, unevenly exposed.

    Colorization pairs take their input lightness from this and their target colour from the clean picture,
    so real film's washed-out luma looks familiar to the network.
    """
    if scale != 1:
        raise ValueError(f"film-luma degrades lightness for colorize and keeps the size; got scale {scale}")
    return Compose([
        RandomApply(Fading(), p=0.5),
        RandomApply(Flicker(), p=0.3),
        RandomApply(Vignette(), p=0.2),
        RandomApply(GaussianBlur(sigma=(0.3, 1.2)), p=0.3),
        RandomApply(FilmGrain(color_probability=0.0), p=0.4),
        RandomApply(Monochrome(sepia_probability=0.5), p=0.5),
        RandomApply(JpegCompression(quality=(50, 95)), p=0.3),
        Quantize(),
    ])


RECIPES: dict[str, Callable[[int], Degradation]] = {
    "bicubic": bicubic,
    "film": film,
    "film-look": film_look,
    "film-luma": film_luma,
}


def build_recipe(name: str, scale: int) -> Degradation:
    try:
        return RECIPES[name](scale)
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}") from None
