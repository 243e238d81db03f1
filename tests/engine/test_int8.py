import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from lumiere.engine.int8 import (
    FakeQuantConv,
    Int8Network,
    conv_input_ranges,
    fake_quantized,
    openvino_available,
    pixel_shuffles_as_depth_to_space,
)
from lumiere.engine.precision import select_dtype, select_int8
from lumiere.engine.runner import ModelRunner, RunnerSettings
from lumiere.errors import LumiereError, ModelError
from lumiere.models.archs import build_compact
from lumiere.models.efficientnet_lite import SamePaddedConv2d
from lumiere.models.loader import load_model, store_int8_ranges, weights_metadata

from ..conftest import smooth_pictures

needs_openvino = pytest.mark.skipif(not openvino_available(), reason="OpenVINO is not installed")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return (10 * torch.log10(1 / ((a - b) ** 2).mean())).item()


@pytest.fixture(scope="module")
def compact() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_compact(2, num_feat=16, num_conv=3).eval()


@pytest.fixture
def calibrated_file(tmp_path, tiny_models) -> str:
    path = tmp_path / "calibrated.safetensors"
    path.write_bytes(tiny_models[2].read_bytes())
    module = load_model(str(path)).module
    store_int8_ranges(path, conv_input_ranges(module, [smooth_pictures(4, 32)]))
    return str(path)


def test_conv_input_ranges_cardinality(compact):
    ranges = conv_input_ranges(compact, [smooth_pictures(2, 24), smooth_pictures(2, 16)])
    convolutions = [name for name, layer in compact.named_modules() if isinstance(layer, torch.nn.Conv2d)]
    assert list(ranges) == convolutions
    assert ranges["body.0"][0] >= 0 and ranges["body.0"][1] <= 1  # the first sees the pictures themselves
    assert all(low <= high for low, high in ranges.values())


def test_exception_conv_input_ranges():
    with pytest.raises(ValueError, match="expected a network with convolutions, got ReLU"):
        conv_input_ranges(torch.nn.ReLU(), [torch.rand(1, 3, 8, 8)])
    with pytest.raises(ValueError, match="at least one batch"):
        conv_input_ranges(torch.nn.Conv2d(3, 3, 3), [])


def test_exception_calibration_of_another_network(compact):
    ranges = conv_input_ranges(compact, [smooth_pictures(1, 16)])
    with pytest.raises(ValueError, match=r"it has no convolution \['head'\]"):
        fake_quantized(compact, {**ranges, "head": (0.0, 1.0)})


def test_a_convolution_inference_never_reaches_stays_float(compact):
    ranges = conv_input_ranges(compact, [smooth_pictures(1, 16)])
    del ranges["body.2"]
    quantized = fake_quantized(compact, ranges)
    assert isinstance(quantized.body[2], torch.nn.Conv2d) and isinstance(quantized.body[0], FakeQuantConv)


def test_fake_quantized_span_refreshes_its_fused_convolutions():
    from lumiere.models.archs import build_span

    span = build_span(2, num_feat=8).eval()
    ranges = conv_input_ranges(span, [smooth_pictures(1, 16)])  # the fused convolutions only: eval's path
    with torch.inference_mode():
        assert fake_quantized(span, ranges)(smooth_pictures(1, 16)).shape == (1, 3, 32, 32)


def test_fake_quantized_leaves_the_network_alone(compact):
    before = {key: value.clone() for key, value in compact.state_dict().items()}
    quantized = fake_quantized(compact, conv_input_ranges(compact, [smooth_pictures(2, 16)]))
    assert all(torch.equal(before[key], value) for key, value in compact.state_dict().items())
    x = smooth_pictures(1, 24)
    with torch.inference_mode():
        assert psnr(quantized(x), compact(x)) > 35


@pytest.mark.parametrize("size", [8, 9])
def test_fake_quantized_keeps_padding_that_depends_on_the_input(size):
    """EfficientNet-Lite's convolutions pad as TensorFlow's "SAME" does, by the input's size: so must their
    fake-quantized copies, or a stride-2 layer puts out a picture of another size."""
    torch.manual_seed(0)
    network = torch.nn.Sequential(SamePaddedConv2d(1, 4, 3, 2), torch.nn.ReLU(), SamePaddedConv2d(4, 1, 5, 2))
    x = smooth_pictures(1, size)[:, :1]
    quantized = fake_quantized(network, conv_input_ranges(network, [x]))
    with torch.inference_mode():
        assert quantized(x).shape == network(x).shape == (1, 1, -(-size // 4), -(-size // 4))
        assert psnr(quantized(x), network(x)) > 35


@pytest.mark.slow
@needs_openvino
def test_smoke(compact):
    network = Int8Network(compact, conv_input_ranges(compact, [smooth_pictures(4, 32)]), 3)
    x = smooth_pictures(2, 40)
    with torch.inference_mode():
        reference = compact(x)
    out = network(x)
    assert out.shape == reference.shape == (2, 3, 80, 80) and out.dtype == torch.float32
    assert psnr(out.clamp(0, 1), reference.clamp(0, 1)) > 35


@pytest.mark.slow
@needs_openvino
def test_cardinality_any_picture_size(compact):
    network = Int8Network(compact, conv_input_ranges(compact, [smooth_pictures(1, 32)]), 3)
    for height, width in ((17, 31), (64, 48)):
        assert network(torch.rand(1, 3, height, width)).shape == (1, 3, 2 * height, 2 * width)


@pytest.mark.slow
@needs_openvino
@pytest.mark.parametrize("scale", [2, 4])
def test_pixel_shuffle_as_depth_to_space_is_the_same_permutation(scale):
    import openvino

    torch.manual_seed(0)
    module = build_compact(scale, num_feat=8, num_conv=2).eval()
    converted = openvino.convert_model(fake_quantized(module, conv_input_ranges(module, [smooth_pictures(2, 32)])),
                                       example_input=torch.rand(1, 3, 16, 16),
                                       input=[openvino.PartialShape([-1, 3, -1, -1])])
    x = smooth_pictures(2, 24).numpy()
    as_converted = openvino.Core().compile_model(converted, "CPU")([x])[0].copy()
    assert pixel_shuffles_as_depth_to_space(converted) == 1
    assert "DepthToSpace" in {op.get_type_name() for op in converted.get_ops()}
    assert "Transpose" not in {op.get_type_name() for op in converted.get_ops()}
    rewritten = openvino.Core().compile_model(converted, "CPU")([x])[0]
    assert rewritten.shape == (2, 3, 24 * scale, 24 * scale)
    assert (rewritten == as_converted).all()


def test_store_int8_ranges_keeps_the_weights_and_the_record(tmp_path, tiny_models):
    path = tmp_path / "model.safetensors"
    path.write_bytes(tiny_models[2].read_bytes())
    record = weights_metadata(path)
    before = load_model(str(path))
    assert before.int8_ranges is None
    ranges = conv_input_ranges(before.module, [smooth_pictures(1, 16)])
    store_int8_ranges(path, ranges)
    after = load_model(str(path))
    assert after.int8_ranges.keys() == ranges.keys()
    assert all(after.int8_ranges[name] == pytest.approx(ranges[name], abs=1e-6) for name in ranges)
    assert all(torch.equal(value, after.module.state_dict()[key]) for key, value in before.module.state_dict().items())
    assert record.items() <= weights_metadata(path).items()
    assert not list(tmp_path.glob("*.partial"))



@pytest.mark.parametrize(("stored", "what"), [
    ("{not json", "not JSON"),
    ('{"body.0": [NaN, 1.0]}', r"body.0: \[NaN, 1.0\] is not two finite numbers, low then high"),
    ('{"body.0": [2.0, 1.0]}', r"body.0: \[2.0, 1.0\] is not two finite numbers, low then high"),
    ('{"body.0": [0.0]}', r"body.0: \[0.0\] is not two finite numbers"),
    ('{"body.0": ["a", "b"]}', "is not two finite numbers"),
    ('{"body.0": [true, 1]}', "is not two finite numbers"),
    ("[[0.0, 1.0]]", "not a map of convolution names to ranges"),
    ('{"body.99": [0.0, 1.0]}', "body.99 is not a convolution of this network"),
], ids=["bad-json", "nan", "low-above-high", "one-number", "strings", "bool", "list", "unknown-layer"])
def test_exception_malformed_int8_ranges(tmp_path, tiny_models, stored, what):
    """A calibration is read when the model loads: malformed, it is one ModelError naming the file and the fault."""
    path = tmp_path / "model.safetensors"
    path.write_bytes(tiny_models[2].read_bytes())
    store_int8_ranges(path, {"body.0": (0.0, 1.0)})
    with safe_open(str(path), "pt") as weights:
        state = {key: weights.get_tensor(key) for key in weights.keys()}  # noqa: SIM118
    save_file(state, str(path), metadata={**weights_metadata(path), "lumiere.int8_input_ranges": stored})
    with pytest.raises(ModelError, match=what) as caught:
        load_model(str(path))
    assert str(caught.value).startswith(f"{path}'s int8 calibration") and "\n" not in str(caught.value)

@pytest.mark.slow
@needs_openvino
def test_auto_runs_a_calibrated_network_in_int8_on_cpu(calibrated_file, tiny_models):
    runner = ModelRunner(load_model(calibrated_file), RunnerSettings("cpu"))
    assert "cpu int8" in runner.describe(100) and runner.dtype == torch.float32
    plain = ModelRunner(load_model(str(tiny_models[2])), RunnerSettings("cpu"))
    assert "int8" not in plain.describe(100)
    x = smooth_pictures(1, 32)
    reference = ModelRunner(load_model(calibrated_file), RunnerSettings("cpu", "fp32"))(x)
    assert psnr(runner(x).clamp(0, 1), reference.clamp(0, 1)) > 35


@pytest.mark.slow
@needs_openvino
def test_int8_is_deterministic_and_tiles_like_the_whole(calibrated_file):
    x = smooth_pictures(1, 64)[..., :50, :]
    whole = ModelRunner(load_model(calibrated_file), RunnerSettings("cpu", "int8", tile=0))
    tiled = ModelRunner(load_model(calibrated_file), RunnerSettings("cpu", "int8", tile=32))
    assert torch.equal(whole(x), whole(x))
    assert (whole(x) - tiled(x)).abs().max() < 1e-5


def test_int8_asked_runs_other_networks_as_auto_does(tiny_models, calibrated_file, monkeypatch):
    from lumiere.engine import precision

    monkeypatch.setattr(precision, "openvino_available", lambda: True)
    cpu = torch.device("cpu")
    uncalibrated = load_model(str(tiny_models[2]))
    assert not select_int8(cpu, uncalibrated, "int8") and not select_int8(cpu, uncalibrated, "auto")
    assert select_dtype(cpu, uncalibrated.descriptor, "int8") == select_dtype(cpu, uncalibrated.descriptor, "auto")
    assert select_int8(cpu, load_model(calibrated_file), "int8")
    assert not select_int8(cpu, load_model(calibrated_file), "fp32")


def test_exception_int8_on_a_gpu(tiny_models):
    with pytest.raises(LumiereError, match="int8 runs on CPUs only"):
        select_int8(torch.device("cuda"), load_model(str(tiny_models[2])), "int8")


def test_int8_is_not_chosen_without_openvino(calibrated_file, monkeypatch):
    from lumiere.engine import precision

    monkeypatch.setattr(precision, "openvino_available", lambda: False)
    loaded = load_model(calibrated_file)
    assert not select_int8(torch.device("cpu"), loaded, "auto")
    with pytest.raises(LumiereError, match="OpenVINO, which is not installed"):
        select_int8(torch.device("cpu"), loaded, "int8")


@pytest.mark.slow
@needs_openvino
def test_int8_that_overflows_falls_back_to_fp32(calibrated_file):
    runner = ModelRunner(load_model(calibrated_file), RunnerSettings("cpu", "int8", tile=0))
    runner.picture_network = lambda x: torch.full((x.shape[0], 3, 2 * x.shape[2], 2 * x.shape[3]), float("nan"))
    x = smooth_pictures(1, 16)
    out = runner(x)
    reference = ModelRunner(load_model(calibrated_file), RunnerSettings("cpu", "fp32", tile=0))(x)
    assert torch.equal(out, reference) and not runner.int8 and "fp32" in runner.describe(100)


@pytest.mark.slow
@needs_openvino
def test_cli_upscale_in_int8_keeps_the_detector_in_float(tmp_path):
    from click.testing import CliRunner

    from lumiere.cli import main
    from lumiere.io.images import Image, read_image, write_image

    picture = (smooth_pictures(1, 48)[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    write_image(tmp_path / "in.png", Image(picture))
    result = CliRunner().invoke(main, ["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"),
                                       "--scale", "2", "--precision", "int8"])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "out.png").rgb.shape == (96, 96, 3)


def test_cli_precision_choices_are_the_engines():
    from lumiere.cli import PRECISION_CHOICES
    from lumiere.engine.precision import PRECISIONS

    assert tuple(PRECISION_CHOICES) == PRECISIONS
