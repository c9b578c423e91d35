"""Model configs: frozen dataclasses that validate on construction, without torch.

The service validates a study's hyperparameters with these (and `trainers.run_config`) before
any trial runs, so they must import without torch; `trainers.models` builds the networks.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainers.errors import ConfigError, check_choice, check_float, check_int, normalize

# The activations `trainers.models.ACTIVATIONS` maps to torch modules (it checks they agree).
ACTIVATION_NAMES = (
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "selu",
    "tanh",
    "sigmoid",
    "softplus",
)
NORMS = ("none", "batch", "layer")
INITS = (
    "default",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
)
POOLS = ("max", "avg")
MODELS = ("mlp", "cnn")  # "cnn" is 1D or 2D, following the dataset


@dataclass(frozen=True)
class MLPConfig:
    depth: int = 2  # hidden layers; 0 is softmax (multinomial logistic) regression
    width: int = 128  # units per hidden layer
    activation: str = "relu"
    dropout: float = 0.0  # after each hidden activation
    norm: str = "none"  # batch | layer: before the activation
    init: str = "default"  # default keeps PyTorch's; the others also zero the biases

    def __post_init__(self) -> None:
        normalize(
            self,
            depth=check_int("depth", self.depth, minimum=0),
            width=check_int("width", self.width, minimum=1),
            dropout=_check_common(self.activation, self.dropout, self.norm, self.init),
        )


@dataclass(frozen=True)
class CNNConfig:
    depth: int = 3  # conv blocks: conv -> norm -> activation -> pool (halves the size)
    width: int = 32  # channels of the first block; doubles per block, capped at 4x
    kernel_size: int = 5  # odd sizes keep "same" padding symmetric
    pool: str = "max"
    activation: str = "relu"
    dropout: float = 0.0  # before the classifier head
    norm: str = "none"
    init: str = "default"

    def __post_init__(self) -> None:
        check_choice("pool", self.pool, POOLS)
        if isinstance(self.depth, int) and self.depth == 0:
            raise ConfigError("a cnn needs depth >= 1; with no conv blocks use model mlp")
        normalize(
            self,
            depth=check_int("depth", self.depth, minimum=1),
            width=check_int("width", self.width, minimum=1),
            kernel_size=check_int("kernel_size", self.kernel_size, minimum=1),
            dropout=_check_common(self.activation, self.dropout, self.norm, self.init),
        )


ModelConfig = MLPConfig | CNNConfig


def _check_common(activation: str, dropout: float, norm: str, init: str) -> float:
    check_choice("activation", activation, ACTIVATION_NAMES)
    check_choice("norm", norm, NORMS)
    check_choice("init", init, INITS)
    return check_float("dropout", dropout, low=0.0, high=1.0, high_open=True)
