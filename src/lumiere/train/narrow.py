"""Narrowing a trained Compact network before fine-tuning it: fewer features per layer, the same depth.

Each hidden layer keeps the features that carry the most into the next convolution on the network's own
training inputs: the mean magnitude of the feature after its PReLU times the L1 norm of the weights that read
it. The kept weights are copied unchanged, so training starts from a network that already computes most of
what the wide one did (film-x4 at 48 of its 64 features: 33.8 dB from its own output on film frames, against
32.8 when ranking by weights alone) and only has to recover the rest.
"""

from collections.abc import Iterable

import torch
from torch import nn

from ..errors import LumiereError
from ..models.archs import build_compact


def compact_layers(module: nn.Module) -> tuple[list[nn.Conv2d], list[nn.PReLU]]:
    """The convolutions and PReLUs of a Real-ESRGAN Compact network, in order."""
    body = getattr(module, "body", None)
    convolutions = [layer for layer in body or () if isinstance(layer, nn.Conv2d)]
    activations = [layer for layer in body or () if isinstance(layer, nn.PReLU)]
    if not convolutions or len(activations) != len(convolutions) - 1:
        raise LumiereError(f"narrowing needs a Compact network with PReLU activations, got {type(module).__name__}")
    return convolutions, activations


def feature_importance(module: nn.Module, batches: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """For each hidden layer of a Compact `module`, one score per feature: its mean |value| over `batches` of
    inputs times the L1 norm of the next convolution's weights that read it."""
    convolutions, activations = compact_layers(module)
    magnitudes = [torch.zeros(layer.num_parameters) for layer in activations]
    counts = [0] * len(activations)
    hooks = []
    for index, layer in enumerate(activations):
        def record(layer, inputs, output, index=index):
            magnitudes[index] += output.detach().abs().float().mean(dim=(0, 2, 3)).cpu()
            counts[index] += 1
        hooks.append(layer.register_forward_hook(record))
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            for batch in batches:
                module(batch)
    finally:
        module.train(was_training)
        for hook in hooks:
            hook.remove()
    if not counts[0]:
        raise LumiereError("narrowing needs at least one batch of training inputs to rank the features")
    return [magnitude / count * reader.weight.detach().abs().sum(dim=(0, 2, 3)).float().cpu()
            for magnitude, count, reader in zip(magnitudes, counts, convolutions[1:], strict=True)]


def narrowed_compact(module: nn.Module, features: int, batches: Iterable[torch.Tensor]) -> nn.Module:
    """A copy of the Compact `module` with `features` per hidden layer, keeping the most important ones
    (`feature_importance` over `batches` of its training inputs)."""
    convolutions, activations = compact_layers(module)
    width = activations[0].num_parameters
    if not 0 < features < width:
        raise LumiereError(f"a network can be narrowed to fewer features than its {width}, got {features}")
    kept = [score.topk(features).indices.sort().values for score in feature_importance(module, batches)]
    channels = convolutions[0].in_channels
    scale = round((convolutions[-1].out_channels // channels) ** 0.5)
    narrow = build_compact(scale, num_feat=features, num_conv=len(convolutions) - 2, channels=channels)
    narrow_convolutions, narrow_activations = compact_layers(narrow)
    with torch.no_grad():
        for index, (target, source) in enumerate(zip(narrow_convolutions, convolutions, strict=True)):
            weight, bias = source.weight, source.bias
            if index < len(kept):
                weight, bias = weight[kept[index]], bias[kept[index]]
            if index > 0:
                weight = weight[:, kept[index - 1]]
            target.weight.copy_(weight)
            target.bias.copy_(bias)
        for target, source, chosen in zip(narrow_activations, activations, kept, strict=True):
            target.weight.copy_(source.weight[chosen])
    return narrow.train(module.training)
