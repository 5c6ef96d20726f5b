r"""Replica-batched networks of Frankle & Carbin (2019): LeNet-300-100, Conv-2, Conv-4 and Conv-6.

The object: $R$ independent networks of one architecture evaluated together. Layer $i$ holds a weight
tensor $W_i \in \mathbb{R}^{R \times \text{out} \times \text{in}}$ (fully connected) or
$\mathbb{R}^{R \times \text{out} \times \text{in} \times k \times k}$ (convolution, stride 1, "same"
padding) and a bias $b_i \in \mathbb{R}^{R \times \text{out}}$, and a 0/1 mask $M_i$ of the weight's
shape. The forward pass uses $M_i \odot W_i$, so the gradient with respect to a pruned weight is
exactly zero. Replicas never mix: convolutions (as stacked shifted views) and linear layers run as batched matrix
products over the replica axis, so $R$ seeds and variants train in one pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lth.simulations.training_settings import ARCHITECTURES  # defined without torch (the command line reads it)


@dataclass(frozen=True)
class WeightLayer:
    """One weight layer: ``kind`` "linear" or "conv", widths, kernel size, 2x2 max-pool after it."""

    kind: str
    fan_in: int
    fan_out: int
    kernel: int = 0
    pool: bool = False

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.kind == "conv":
            return (self.fan_out, self.fan_in, self.kernel, self.kernel)
        return (self.fan_out, self.fan_in)


@dataclass(frozen=True)
class Architecture:
    """A network: its input shape [C, H, W], its layers in order and its name."""

    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[WeightLayer, ...]

    @property
    def patch_elements(self) -> int:
        """Largest convolution patch tensor per sample and replica (C*k*k*H*W; 0 without convs)."""
        _, h, w = self.input_shape
        largest = 0
        for layer in self.layers:
            if layer.kind == "conv":
                largest = max(largest, layer.fan_in * layer.kernel ** 2 * h * w)
                h, w = (h // 2, w // 2) if layer.pool else (h, w)
        return largest

    @property
    def weight_count(self) -> int:
        """Number of prunable weights (biases are never pruned)."""
        return sum(math.prod(layer.weight_shape) for layer in self.layers)


def build_architecture(name: str, input_shape: tuple[int, int, int], num_classes: int,
                       width: float = 1.0) -> Architecture:
    """The named architecture for images [C, H, W]; ``width`` scales every hidden width.

    lenet: fc 300-100 (Frankle & Carbin's LeNet-300-100). conv2: conv 64, 64, pool, fc 256, 256.
    conv4: conv 64, 64, pool, 128, 128, pool, fc 256, 256. conv6: conv4 plus conv 256, 256, pool
    before the fully connected layers. All end in a linear layer to the classes.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unsupported architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}")
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")

    def w(n: int) -> int:
        return max(1, int(round(n * width)))

    c, h, wd = input_shape
    layers: list[WeightLayer] = []
    if name == "lenet":
        widths = [c * h * wd, w(300), w(100)]
    else:
        blocks = [(w(64), w(64)), (w(128), w(128)), (w(256), w(256))][:int(name[-1]) // 2]
        channels = c
        for first, second in blocks:
            if h < 2 or wd < 2:
                raise ValueError(f"{name} needs images of at least {2 ** len(blocks)} pixels a side; got {input_shape}")
            layers += [WeightLayer("conv", channels, first, 3), WeightLayer("conv", first, second, 3, pool=True)]
            channels, h, wd = second, h // 2, wd // 2
        widths = [channels * h * wd, w(256), w(256)]
    layers += [WeightLayer("linear", a, b) for a, b in zip(widths[:-1], widths[1:])]
    layers.append(WeightLayer("linear", widths[-1], num_classes))
    return Architecture(name, tuple(input_shape), tuple(layers))


def init_weights(arch: Architecture, generators: list[torch.Generator], device: torch.device) -> list[torch.Tensor]:
    """Glorot-normal weights (the paper's Gaussian Glorot init), one replica per generator.

    Returns one tensor per layer, [R, *weight_shape], float32 on ``device``; biases start at zero
    and are not part of the returned list.
    """
    out = []
    for layer in arch.layers:
        receptive = layer.kernel ** 2 if layer.kind == "conv" else 1
        std = math.sqrt(2.0 / ((layer.fan_in + layer.fan_out) * receptive))
        out.append(torch.stack([torch.randn(layer.weight_shape, generator=g, device=device) * std
                                for g in generators]))
    return out


def zero_biases(arch: Architecture, replicas: int, device: torch.device) -> list[torch.Tensor]:
    """One zero bias [R, fan_out] per layer."""
    return [torch.zeros(replicas, layer.fan_out, device=device) for layer in arch.layers]


def forward(arch: Architecture, weights: list[torch.Tensor], biases: list[torch.Tensor],
            masks: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits [R, B, classes] of R masked replicas.

    ``x`` is either shared by all replicas, [B, C, H, W], or per replica, [R, B, C, H, W].
    """
    replicas = weights[0].shape[0]
    if x.dim() == 4:
        x = x.unsqueeze(0).expand(replicas, *x.shape)
    h: torch.Tensor = x
    convs = [i for i, layer in enumerate(arch.layers) if layer.kind == "conv"]
    for i in convs:
        layer = arch.layers[i]
        h = F.relu(_conv(h, weights[i] * masks[i], biases[i], layer.kernel))
        if layer.pool:
            h = F.max_pool2d(h.flatten(0, 1), 2).unflatten(0, h.shape[:2])
    h = h.flatten(2)
    for i in range(len(convs), len(arch.layers)):
        h = torch.baddbmm(biases[i].unsqueeze(1), h, (weights[i] * masks[i]).transpose(1, 2))
        if i != len(arch.layers) - 1:
            h = F.relu(h)
    return h


def _conv(h: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor, size: int) -> torch.Tensor:
    """Per-replica "same" convolution as shifted views + batched matmul.

    ``h`` [R, B, C, H, W], ``kernel`` [R, out, C, k, k], ``bias`` [R, out] -> [R, B, out, H, W].
    The k*k shifted views of the padded input are stacked into patches [R, B, C*k*k, H*W] (the
    order of ``kernel.flatten(2)``). A grouped ``conv2d`` or ``unfold`` computes the same, but on CPU
    their backward passes loop over samples and were 5-10x slower here.
    """
    replicas, batch, channels, height, width = h.shape
    pad = size // 2
    padded = F.pad(h, (pad, pad, pad, pad))
    patches = torch.stack([padded[..., dy:dy + height, dx:dx + width] for dy in range(size) for dx in range(size)],
                          dim=3).reshape(replicas, batch, channels * size * size, height * width)
    out = torch.matmul(kernel.flatten(2).unsqueeze(1), patches) + bias[:, None, :, None]
    return out.unflatten(3, (height, width))
