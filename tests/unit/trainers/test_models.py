from __future__ import annotations

import pytest
import torch
from torch import nn

from trainers.errors import ConfigError
from trainers.models import (
    ACTIVATIONS,
    INITS,
    NORMS,
    CNNConfig,
    MLPConfig,
    build_model,
    count_parameters,
)

pytestmark = pytest.mark.unit


def _mlp(cfg: MLPConfig, n_in: int = 6, n_classes: int = 3) -> nn.Module:
    return build_model(cfg, kind="flat", input_shape=(n_in,), n_classes=n_classes)


def test_mlp_depth_zero_is_softmax_regression() -> None:
    model = _mlp(MLPConfig(depth=0), n_in=40, n_classes=10)
    assert count_parameters(model) == 40 * 10 + 10
    assert model(torch.randn(5, 1, 40)).shape == (5, 10)  # any input shape is flattened


def test_mlp_parameter_count() -> None:
    model = _mlp(MLPConfig(depth=2, width=16), n_in=6, n_classes=3)
    assert count_parameters(model) == (6 * 16 + 16) + (16 * 16 + 16) + (16 * 3 + 3)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize(
    ("kind", "shape"), [("seq1d", (1, 40)), ("image2d", (1, 8, 8)), ("flat", (6,))]
)
def test_models_output_logits_for_every_kind_and_norm(
    kind: str, shape: tuple[int, ...], norm: str
) -> None:
    cfgs: list[MLPConfig | CNNConfig] = [MLPConfig(norm=norm, dropout=0.2)]
    if kind != "flat":
        cfgs.append(CNNConfig(depth=4, width=4, norm=norm, pool="avg", dropout=0.2))
    for cfg in cfgs:
        model = build_model(cfg, kind=kind, input_shape=shape, n_classes=7)
        out = model(torch.randn(3, *shape))
        assert out.shape == (3, 7)
        out.sum().backward()  # gradients flow through every block


def test_cnn_pooling_stops_at_size_one() -> None:
    # 8x8 halves three times to 1x1; the fourth and fifth blocks keep 1x1 instead of failing.
    model = build_model(
        CNNConfig(depth=5, width=2), kind="image2d", input_shape=(1, 8, 8), n_classes=10
    )
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    head = model.head[-1]  # type: ignore[index]  # torch types a submodule Tensor | Module
    assert isinstance(head, nn.Linear) and head.in_features == 2 * 4  # channels cap at 4x


def test_cnn_on_tabular_data_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="use model mlp"):
        build_model(CNNConfig(), kind="flat", input_shape=(13,), n_classes=3)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_is_used(activation: str) -> None:
    model = _mlp(MLPConfig(activation=activation))
    assert any(isinstance(m, ACTIVATIONS[activation]) for m in model.modules())
    x = torch.randn(4, 6)
    assert torch.isfinite(model(x)).all()


@pytest.mark.parametrize("init", INITS)
def test_every_init(init: str) -> None:
    torch.manual_seed(0)
    default = _mlp(MLPConfig(width=32, init="default"))
    torch.manual_seed(0)
    model = _mlp(MLPConfig(width=32, init=init, activation="tanh"))
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    defaults = [m for m in default.modules() if isinstance(m, nn.Linear)]
    if init == "default":
        assert all(torch.equal(a.weight, b.weight) for a, b in zip(linears, defaults, strict=True))
        return
    assert all(torch.count_nonzero(m.bias) == 0 for m in linears)
    assert not torch.equal(linears[1].weight, defaults[1].weight)
    if init == "orthogonal":
        w = linears[1].weight  # 32 x 32: rows orthogonal, scaled by tanh's gain 5/3
        gain = nn.init.calculate_gain("tanh")
        torch.testing.assert_close(w @ w.T, gain**2 * torch.eye(32), atol=1e-4, rtol=1e-4)
    if init.startswith("kaiming"):
        # He et al.: std = gain / sqrt(fan_in), tanh's gain 5/3
        std = float(linears[1].weight.detach().std())
        assert abs(std - (5 / 3) / 32**0.5) < 0.05


def test_init_applies_to_conv_layers() -> None:
    model = build_model(
        CNNConfig(depth=2, width=4, init="xavier_normal"),
        kind="seq1d",
        input_shape=(1, 40),
        n_classes=10,
    )
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert len(convs) == 2
    assert all(torch.count_nonzero(c.bias) == 0 for c in convs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: MLPConfig(activation="swish"), "valid: relu, leaky_relu, elu, gelu, silu, selu"),
        (lambda: MLPConfig(depth=-1), "depth must be an integer >= 0"),
        (lambda: MLPConfig(depth=1.5), "depth must be an integer"),  # type: ignore[arg-type]
        (lambda: MLPConfig(width=0), "width must be an integer >= 1"),
        (lambda: MLPConfig(dropout=1.0), "dropout must be in [0.0, 1.0)"),
        (lambda: MLPConfig(dropout=-0.1), "dropout must be in [0.0, 1.0)"),
        (lambda: MLPConfig(norm="group"), "valid: none, batch, layer"),
        (lambda: MLPConfig(init="he"), "valid: default, xavier_uniform, xavier_normal"),
        (lambda: CNNConfig(pool="min"), "valid: max, avg"),
        (lambda: CNNConfig(depth=0), "use model mlp"),
        (lambda: CNNConfig(kernel_size=0), "kernel_size must be an integer >= 1"),
    ],
)
def test_bad_model_configs_say_what_is_valid(make: object, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        make()  # type: ignore[operator]
    assert needle in str(err.value)


def test_integral_floats_from_a_sampler_become_ints() -> None:
    cfg = MLPConfig(depth=2.0, width=64.0)  # type: ignore[arg-type]
    assert cfg.depth == 2 and isinstance(cfg.width, int)
