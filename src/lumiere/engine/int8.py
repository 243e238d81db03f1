"""8-bit integer inference on CPUs, through OpenVINO.

Most people's CPUs (AVX2, no native bf16) run our convolutional networks fastest in int8: each convolution reads
its input as 8-bit integers on a scale fixed once for the network (its calibration: the range of values that
convolution sees on training pictures, measured by `conv_input_ranges` and stored with the weights), and its
weights as 8-bit integers per output channel. OpenVINO executes such a network with integer kernels and the
PReLU fused into each convolution; PyTorch's own quantized PReLU gives wrong results, so its eager int8 path
could not be used.

Weights are quantized to 7 bits (-64..63): CPUs without VNNI add pairs of u8 x s8 products in 16 bits, which
saturate with full 8-bit weights (film-x4 lost 0.08 dB on Set5 that way); with 7 bits the result is the same
on every CPU, and within a few hundredths of a dB of fp32.
"""

import copy
import threading
import warnings
from collections.abc import Iterable
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATION_LEVELS = 255
WEIGHT_LIMIT = 63
_CONVERTING = threading.Lock()

Ranges = dict[str, tuple[float, float]]


@lru_cache(maxsize=1)
def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def conv_input_ranges(module: nn.Module, batches: Iterable[torch.Tensor],
                      outputs: list[torch.Tensor] | None = None) -> Ranges:
    """The lowest and highest value each convolution of `module` receives over `batches` of inputs; the module's
    output for each batch is appended to `outputs` where one is given."""
    ranges: dict[str, list[float]] = {}
    hooks = []
    for name, layer in module.named_modules():
        if isinstance(layer, nn.Conv2d):
            def record(layer, inputs, name=name):
                low, high = inputs[0].aminmax()
                seen = ranges.setdefault(name, [low.item(), high.item()])
                seen[0], seen[1] = min(seen[0], low.item()), max(seen[1], high.item())
            hooks.append(layer.register_forward_pre_hook(record))
    if not hooks:
        raise ValueError(f"expected a network with convolutions, got {type(module).__name__}")
    try:
        with torch.inference_mode():
            for batch in batches:
                output = module(batch)
                if outputs is not None:
                    outputs.append(output)
    finally:
        for hook in hooks:
            hook.remove()
    if not ranges:
        raise ValueError("expected at least one batch of inputs to measure")
    return {name: (low, high) for name, (low, high) in ranges.items()}


def _activation_grid(low: float, high: float) -> tuple[float, int]:
    """(scale, zero point) of the unsigned 8-bit grid that covers [low, high] and holds 0 exactly."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = max(high - low, 1e-6) / ACTIVATION_LEVELS
    return scale, int(round(-low / scale))


class FakeQuantConv(nn.Module):
    """A convolution that rounds its input and weights to the int8 grids, in float: the form OpenVINO turns into
    an integer convolution."""

    def __init__(self, conv: nn.Conv2d, input_range: tuple[float, float]):
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(f"expected a zero-padded convolution with numeric padding, got {conv}")
        self.conv = conv
        self.input_scale, self.input_zero = _activation_grid(*input_range)

    # the wrapped convolution's tensors stay reachable by their names: SPAN refreshes its fused convolution's
    # weight from its branches before each forward in eval mode
    @property
    def weight(self) -> nn.Parameter:
        return self.conv.weight

    @property
    def bias(self) -> nn.Parameter | None:
        return self.conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.fake_quantize_per_tensor_affine(x, self.input_scale, self.input_zero, 0, ACTIVATION_LEVELS)
        weight = self.conv.weight
        scales = (weight.abs().amax(dim=(1, 2, 3)) / WEIGHT_LIMIT).clamp_min(1e-12)
        zeros = torch.zeros_like(scales, dtype=torch.int32)
        weight = torch.fake_quantize_per_channel_affine(weight, scales, zeros, 0, -WEIGHT_LIMIT - 1, WEIGHT_LIMIT)
        conv = self.conv
        if hasattr(conv, "padded"):  # padding that depends on the input's size (TensorFlow's "SAME")
            x = conv.padded(x)
        return F.conv2d(x, weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


def fake_quantized(module: nn.Module, ranges: Ranges) -> nn.Module:
    """A copy of `module` whose convolutions named in `ranges` are `FakeQuantConv`s. A convolution without a
    range stays float: one that inference never reaches (SPAN's training-time branches, fused away in eval)."""
    copied = copy.deepcopy(module).float().eval().requires_grad_(False)
    convolutions = {name for name, layer in copied.named_modules() if isinstance(layer, nn.Conv2d)}
    unknown = sorted(set(ranges) - convolutions)
    if unknown:
        raise ValueError(f"calibration does not fit this network: it has no convolution {unknown[:3]}")
    for name in ranges:
        parent_name, _, child = name.rpartition(".")
        parent = copied.get_submodule(parent_name) if parent_name else copied
        setattr(parent, child, FakeQuantConv(getattr(parent, child), ranges[name]))
    return copied


PIXEL_SHUFFLE_ORDER = [0, 1, 4, 2, 5, 3]


def pixel_shuffles_as_depth_to_space(model) -> int:
    """Rewrite each pixel shuffle of an OpenVINO `model` as OpenVINO's DepthToSpace; returns how many.

    The converter writes `pixel_shuffle` as a reshape to (B, C, r, r, H, W), a transpose and a reshape back. The
    reshapes need the convolution's output in planar layout, and the CPU plugin makes that copy with its
    reference reorder: 72 of 860 ms a frame for film-x4 at 640x480 -> x4 on AVX2. DepthToSpace in its
    "depth_first" mode is the same permutation (channel c * r * r + i * r + j to pixel (i, j) of channel c) and
    reads the convolution's channels-last output as it is: 10 ms, the output bit-identical.
    """
    import openvino.opset13 as ov_ops

    rewritten = 0
    for transpose in model.get_ordered_ops():
        if transpose.get_type_name() != "Transpose":
            continue
        order = transpose.input_value(1).get_node()
        split = transpose.input_value(0).get_node()
        readers = list(transpose.output(0).get_target_inputs())
        if (order.get_type_name() != "Constant" or list(order.get_vector()) != PIXEL_SHUFFLE_ORDER
                or split.get_type_name() != "Reshape" or len(readers) != 1
                or readers[0].get_node().get_type_name() != "Reshape"):
            continue
        split_shape = split.get_output_partial_shape(0)
        block = split_shape[2]
        if not block.is_static or split_shape[3] != block:
            continue
        merge = readers[0].get_node()
        merge.output(0).replace(ov_ops.depth_to_space(split.input_value(0), "depth_first",
                                                      block.get_length()).output(0))
        rewritten += 1
    return rewritten


class Int8Network:
    """A picture network compiled by OpenVINO with integer convolutions: float32 (B, C, H, W) in, float32 out,
    any picture size; or only the size of `example` where one is given (a network whose padding or upsampling
    sizes the trace fixes as constants, such as the ImageNet-encoder colorizers)."""

    def __init__(self, module: nn.Module, ranges: Ranges, input_channels: int, example: torch.Tensor | None = None):
        import openvino

        quantized = fake_quantized(module, ranges)
        shape = {} if example is not None else {"input": [openvino.PartialShape([-1, input_channels, -1, -1])]}
        # the converter traces with torch.jit, whose tracing state is the process's: two conversions at once
        # (two jobs in threads, as the web page's or the Python API's) break each other's traces
        with _CONVERTING, warnings.catch_warnings():  # torch.jit also warns of its own deprecation
            warnings.simplefilter("ignore")
            model = openvino.convert_model(
                quantized, example_input=torch.rand(1, input_channels, 64, 64) if example is None else example,
                **shape)
        pixel_shuffles_as_depth_to_space(model)
        config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": torch.get_num_threads()}
        self._compiled = openvino.Core().compile_model(model, "CPU", config)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        result = self._compiled([x.detach().float().contiguous().numpy()])[0]
        return torch.from_numpy(result.copy())  # the request reuses its output buffer on the next call
