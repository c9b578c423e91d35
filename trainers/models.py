"""MLP and CNN (1D and 2D) classifiers, built from frozen configs that validate on construction.

The dataset tells a model its input shape and class count, so one config fits any dataset of the
right kind: an MLP takes anything (it flattens), a 1D CNN takes sequences, a 2D CNN takes images.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
from torch import nn

from trainers.errors import ConfigError, check_choice
from trainers.model_config import (
    ACTIVATION_NAMES,
    INITS,
    MODELS,
    NORMS,
    POOLS,
    CNNConfig,
    MLPConfig,
    ModelConfig,
)

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "MODELS",
    "NORMS",
    "POOLS",
    "CNNConfig",
    "MLPConfig",
    "ModelConfig",
]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "selu": nn.SELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
}
if tuple(ACTIVATIONS) != ACTIVATION_NAMES:  # one list of names, checked where torch is at hand
    raise ImportError("trainers.models.ACTIVATIONS and model_config.ACTIVATION_NAMES differ")


class MLPBlock(nn.Module):
    def __init__(self, n_in: int, n_out: int, cfg: MLPConfig) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        # None rather than nn.Identity: each module call costs a few microseconds per step,
        # which is measurable on models this small (bench/trainer_overhead.py).
        self.norm = _norm(cfg.norm, n_out, dims=0)
        self.act = ACTIVATIONS[cfg.activation]()
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)  # (batch, n_out)
        if self.norm is not None:
            x = self.norm(x)
        x = self.act(x)
        return self.drop(x) if self.drop is not None else x


class MLP(nn.Module):
    def __init__(self, cfg: MLPConfig, input_shape: tuple[int, ...], n_classes: int) -> None:
        super().__init__()
        n_in = math.prod(input_shape)
        widths = [n_in] + [cfg.width] * cfg.depth
        self.flatten = nn.Flatten()
        self.blocks = nn.Sequential(*(MLPBlock(a, b, cfg) for a, b in itertools.pairwise(widths)))
        self.head = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(x)  # (batch, features)
        logits: torch.Tensor = self.head(self.blocks(x))  # (batch, n_classes)
        return logits


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dims: int, pool: bool, cfg: CNNConfig) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        # "same" padding; the norm's own shift makes the conv bias redundant only for batch norm,
        # but keeping it costs nothing at these sizes and keeps init uniform.
        self.conv = conv(c_in, c_out, cfg.kernel_size, padding=cfg.kernel_size // 2)
        self.norm = _norm(cfg.norm, c_out, dims=dims)
        self.act = ACTIVATIONS[cfg.activation]()
        pool_cls = {
            (1, "max"): nn.MaxPool1d,
            (1, "avg"): nn.AvgPool1d,
            (2, "max"): nn.MaxPool2d,
            (2, "avg"): nn.AvgPool2d,
        }[(dims, cfg.pool)]
        self.pool = pool_cls(2) if pool else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)  # (batch, c_in, *spatial) -> (batch, c_out, *spatial)
        if self.norm is not None:
            x = self.norm(x)
        x = self.act(x)
        return self.pool(x) if self.pool is not None else x  # halves each spatial size


class CNN(nn.Module):
    def __init__(self, cfg: CNNConfig, input_shape: tuple[int, ...], n_classes: int) -> None:
        super().__init__()
        dims = len(input_shape) - 1  # (channels, length) -> 1, (channels, h, w) -> 2
        channels, spatial = input_shape[0], list(input_shape[1:])
        blocks = []
        for i in range(cfg.depth):
            # Channels double per block up to 4x: deeper stacks would otherwise grow past what
            # 8x8 or 40-step inputs can use, and cost time for nothing.
            c_out = cfg.width * 2 ** min(i, 2)
            pool = min(spatial) >= 2  # stop halving once a dimension reaches 1
            blocks.append(ConvBlock(channels, c_out, dims, pool, cfg))
            channels = c_out
            spatial = [s // 2 for s in spatial] if pool else spatial
        self.blocks = nn.Sequential(*blocks)
        # A small head on the flattened map keeps position information, which MNIST-1D needs.
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity(),
            nn.Linear(channels * math.prod(spatial), n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(
            self.blocks(x)
        )  # (batch, c, *spatial) -> (batch, n_classes)
        return logits


def _norm(kind: str, channels: int, dims: int) -> nn.Module | None:
    if kind == "batch":
        return {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims](channels)
    if kind == "layer":
        # On feature maps, GroupNorm with one group normalizes over channels and positions per
        # sample: layer norm that does not depend on the input length.
        return nn.LayerNorm(channels) if dims == 0 else nn.GroupNorm(1, channels)
    return None


def build_model(
    cfg: ModelConfig, *, kind: str, input_shape: tuple[int, ...], n_classes: int
) -> nn.Module:
    """Build and initialize a model for data of `kind` (flat | seq1d | image2d)."""
    model: nn.Module
    if isinstance(cfg, MLPConfig):
        model = MLP(cfg, input_shape, n_classes)
    else:
        if kind == "flat":
            raise ConfigError(
                "model cnn needs sequence (seq1d) or image (image2d) data; this "
                "dataset is flat (tabular): use model mlp"
            )
        model = CNN(cfg, input_shape, n_classes)
    init_weights(model, cfg.init, cfg.activation)
    return model


# The gain names torch.nn.init knows; the smooth ReLU-likes get ReLU's gain, SELU gets the
# linear (LeCun) scale its self-normalization assumes.
_Gain = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
_GAIN: dict[str, _Gain] = {
    "relu": "relu",
    "gelu": "relu",
    "silu": "relu",
    "elu": "relu",
    "softplus": "relu",
    "leaky_relu": "leaky_relu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "selu": "linear",
}


def init_weights(model: nn.Module, scheme: str, activation: str) -> None:
    """Re-initialize every linear and conv weight with `scheme` and zero its bias."""
    check_choice("init", scheme, INITS)
    if scheme == "default":
        return
    gain_name = _GAIN[activation]
    for module in model.modules():
        if not isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
            continue
        weight = module.weight
        if scheme == "xavier_uniform":
            nn.init.xavier_uniform_(weight)
        elif scheme == "xavier_normal":
            nn.init.xavier_normal_(weight)
        elif scheme == "kaiming_uniform":
            nn.init.kaiming_uniform_(weight, nonlinearity=gain_name)
        elif scheme == "kaiming_normal":
            nn.init.kaiming_normal_(weight, nonlinearity=gain_name)
        else:
            nn.init.orthogonal_(weight, gain=nn.init.calculate_gain(gain_name))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
