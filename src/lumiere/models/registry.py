"""The models lumiere ships, listed explicitly (no folder scanning, no import magic)."""

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path


@dataclass(frozen=True)
class ShippedModel:
    name: str
    filename: str
    summary: str

    @property
    def path(self) -> Path:
        return Path(str(files("lumiere") / "weights" / self.filename))


class ModelRegistry:
    def __init__(self) -> None:
        self._models: dict[str, ShippedModel] = {}

    def register(self, model: ShippedModel) -> None:
        if model.name in self._models:
            raise ValueError(f"model {model.name!r} is registered twice")
        self._models[model.name] = model

    def get(self, name: str) -> ShippedModel | None:
        return self._models.get(name)

    def names(self) -> list[str]:
        return sorted(self._models)

    def __iter__(self):
        return iter(self._models[name] for name in self.names())


SHIPPED = ModelRegistry()
SHIPPED.register(ShippedModel("sr-x2", "sr-x2.safetensors",
                              "x2 upscaler trained on bicubic-downsampled photos"))
SHIPPED.register(ShippedModel("sr-x4", "sr-x4.safetensors",
                              "x4 upscaler trained on bicubic-downsampled photos"))
SHIPPED.register(ShippedModel("film-x2", "film-x2.safetensors",
                              "x2 upscaler for old film: also removes grain, dust, scratches, compression"))
SHIPPED.register(ShippedModel("film-x4", "film-x4.safetensors",
                              "x4 upscaler for old film: also removes grain, dust, scratches, compression"))
SHIPPED.register(ShippedModel("film-clean", "film-clean.safetensors",
                              "x1 film cleaner: grain, dust, scratches and compression removed, size kept"))
SHIPPED.register(ShippedModel("colorize", "colorize.safetensors",
                              "colorizer for black-and-white film and photos (lumiere colorize, restore --colorize)"))
SHIPPED.register(ShippedModel("film-repair", "film-repair.safetensors",
                              "paints over the dust, dirt and scratches restore --repair finds, from five frames"))

DEFAULT_UPSCALERS = {2: "film-x2", 4: "film-x4"}
