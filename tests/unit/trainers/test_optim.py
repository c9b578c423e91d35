from __future__ import annotations

import math

import pytest
import torch

from trainers.errors import ConfigError
from trainers.optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule

pytestmark = pytest.mark.unit

# Adadelta's step scale comes from its own running averages; lr=1 is its documented default.
_LR = {"adadelta": 1.0, "adagrad": 0.1}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_reduces_the_loss(name: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(32, 4)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Linear(4, 2)
    opt = make_optimizer(
        name, model.parameters(), lr=_LR.get(name, 0.05), momentum=0.9, weight_decay=1e-4
    )
    losses = []
    for _ in range(10):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_optimizer_variants() -> None:
    params = [torch.nn.Parameter(torch.zeros(2))]
    sgd = make_optimizer("sgd", params, lr=0.1, momentum=0.9, weight_decay=0)
    nesterov = make_optimizer("nesterov", params, lr=0.1, momentum=0.8, weight_decay=0)
    assert sgd.param_groups[0]["momentum"] == 0.0  # plain sgd ignores momentum
    assert nesterov.param_groups[0]["nesterov"] and nesterov.param_groups[0]["momentum"] == 0.8
    assert isinstance(
        make_optimizer("adamw", params, lr=1, momentum=0, weight_decay=0.1), torch.optim.AdamW
    )


def test_unknown_optimizer_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid: sgd, momentum, nesterov, adam, adamw, rmsprop"):
        make_optimizer(
            "lion", [torch.nn.Parameter(torch.zeros(1))], lr=1, momentum=0, weight_decay=0
        )


def test_schedule_shapes() -> None:
    e = 12

    def f(name: str, **kw: object) -> object:
        return make_schedule(name, epochs=e, **kw)  # type: ignore[arg-type]

    constant = f("constant")
    assert constant(0) == constant(11.5) == 1.0  # type: ignore[operator]
    step = f("step")  # x0.1 every 4 epochs
    assert [step(t) for t in (0, 3.9, 4, 8)] == pytest.approx([1, 1, 0.1, 0.01])  # type: ignore[operator]
    multi = f("multistep", milestones=(3, 9), gamma=0.5)
    assert [multi(t) for t in (2.9, 3, 9)] == pytest.approx([1, 0.5, 0.25])  # type: ignore[operator]
    expo = f("exponential", gamma=0.5)
    assert [expo(t) for t in (0, 1, 2.5)] == pytest.approx([1, 0.5, 0.5**2.5])  # type: ignore[operator]
    cos = f("cosine", min_lr_fraction=0.1)
    assert [cos(t) for t in (0, 6, 12)] == pytest.approx([1, 0.55, 0.1])  # type: ignore[operator]
    poly = f("polynomial", power=2.0)
    assert [poly(t) for t in (0, 6, 12)] == pytest.approx([1, 0.25, 0])  # type: ignore[operator]
    one = f("onecycle")
    assert one(0) == pytest.approx(1 / 25)  # type: ignore[operator]
    assert one(0.3 * e) == pytest.approx(1)  # type: ignore[operator]
    assert one(e) == pytest.approx(1 / 25e4)  # type: ignore[operator]
    cyc = f("cyclic", cycle_epochs=4, min_lr_fraction=0.2)
    assert [cyc(t) for t in (0, 2, 4, 5)] == pytest.approx([0.2, 1, 0.2, 0.6])  # type: ignore[operator]


@pytest.mark.parametrize("name", SCHEDULES)
def test_warmup_ramps_every_schedule(name: str) -> None:
    base = make_schedule(name, epochs=10)
    warm = make_schedule(name, epochs=10, warmup_epochs=2)
    assert warm(0) < 0.01  # starts near zero
    assert warm(1) == pytest.approx(base(1) * (1 + 1e-3) / 2)
    assert warm(5) == pytest.approx(base(5))
    assert all(math.isfinite(warm(t / 4)) and warm(t / 4) >= 0 for t in range(41))


def test_unknown_schedule_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid: constant, step, multistep, exponential, cosine"):
        make_schedule("linear", epochs=3)
