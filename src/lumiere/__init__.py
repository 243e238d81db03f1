"""lumiere: bring old film back to life with neural networks.

    import lumiere
    lumiere.restore("film.mp4", "film-4k.mp4", to="4k", preset="film")
    big = lumiere.upscale(picture, scale=4)        # a NumPy array in, an array out
    coloured = lumiere.colorize("photo.png")       # a path in, the path written out
    lumiere.keep_freed_memory()                    # once, in a program that runs films: what the CLI does

The functions live in `lumiere.api` and are imported on first use, so that the command line starts without
loading PyTorch.
"""

__version__ = "0.1.0"

__all__ = ["EncodeRequest", "colorize", "keep_freed_memory", "load_model", "options", "restore", "upscale"]


def __getattr__(name: str):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'lumiere' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public functions too, though they are imported on first use."""
    return sorted({*globals(), *__all__})
