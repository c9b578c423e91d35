"""`--pick`: choosing one trial of a multi-objective study for final training.

Grammar (case-insensitive, words separated by spaces)::

    knee
    best OBJECTIVE
    (smallest | largest) METRIC within NUMBER[%] of the best OBJECTIVE

- `knee`: the Pareto point nearest the ideal one, every objective scaled to [0, 1] over the
  front (`hpo.pareto.knee_index`).
- `best OBJECTIVE`: the feasible trial best on that objective alone.
- `smallest n_params within 0.005 of the best val_accuracy`: among the feasible trials whose
  val_accuracy is at most 0.005 from the best one (`0.5%`: relative to the best), the one with
  the smallest n_params. METRIC is any metric the trials report; OBJECTIVE must be one of the
  study's objectives (its direction says what "best" means).

`parse_pick(text)` returns a `Pick` or raises `ValidationError` naming the grammar;
`choose(pick, candidates, objectives)` returns the index of the chosen candidate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hpo.errors import ValidationError
from hpo.pareto import knee_index, to_losses

PICK_GRAMMAR = (
    "knee | best OBJECTIVE | (smallest|largest) METRIC within NUMBER[%] of the best OBJECTIVE"
)
_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_NUMBER = r"[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?"
_WITHIN = re.compile(
    rf"^(smallest|largest)\s+({_NAME})\s+within\s+({_NUMBER})\s*(%?)\s+of\s+the\s+best\s+({_NAME})$",
    re.IGNORECASE,
)
_BEST = re.compile(rf"^best\s+({_NAME})$", re.IGNORECASE)


@dataclass(frozen=True)
class Pick:
    kind: Literal["knee", "best", "within"]
    objective: str = ""  # the objective "best" refers to
    metric: str = ""  # `within`: the metric to make smallest or largest
    smallest: bool = True
    tolerance: float = 0.0
    relative: bool = False  # tolerance in percent of the best value


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str  # minimize | maximize


def parse_pick(text: str) -> Pick:
    words = " ".join(str(text).split())
    if words.lower() == "knee":
        return Pick("knee")
    if m := _BEST.match(words):
        return Pick("best", objective=m.group(1))
    if m := _WITHIN.match(words):
        tolerance = float(m.group(3))
        if not math.isfinite(tolerance):
            raise ValidationError(f"--pick tolerance must be a finite number, got {m.group(3)}")
        return Pick(
            "within",
            objective=m.group(5),
            metric=m.group(2),
            smallest=m.group(1).lower() == "smallest",
            tolerance=tolerance,
            relative=m.group(4) == "%",
        )
    raise ValidationError(f"cannot parse --pick {text[:80]!r}: use {PICK_GRAMMAR}")


def check_pick(pick: Pick, objectives: Sequence[Objective]) -> None:
    """Refuse a pick naming an objective the study does not have."""
    names = [o.metric for o in objectives]
    if pick.kind != "knee" and pick.objective not in names:
        raise ValidationError(
            f"--pick names the objective {pick.objective!r}, which this study does not have: "
            f"use one of {', '.join(names)}"
        )


def choose(
    pick: Pick,
    candidates: Sequence[tuple[Sequence[float], Mapping[str, Any]]],
    objectives: Sequence[Objective],
) -> int:
    """The index of the chosen candidate. Each candidate is (objective values, metrics) of a
    feasible completed trial; raises ValidationError when the pick names something the
    candidates lack or none is left."""
    check_pick(pick, objectives)
    if not candidates:
        raise ValidationError("no feasible completed trial to pick from yet")
    directions = [o.direction for o in objectives]
    losses = to_losses([list(v) for v, _ in candidates], directions)
    if pick.kind == "knee":
        return knee_index(losses)
    col = [o.metric for o in objectives].index(pick.objective)
    best = float(losses[:, col].min())
    if pick.kind == "best":
        return int(losses[:, col].argmin())
    slack = abs(best) * pick.tolerance / 100.0 if pick.relative else pick.tolerance
    chosen: tuple[float, float, int] | None = None
    for i, (_, metrics) in enumerate(candidates):
        if losses[i, col] > best + slack + 1e-12:
            continue
        raw = metrics.get(pick.metric)
        if not isinstance(raw, int | float) or isinstance(raw, bool) or not math.isfinite(raw):
            raise ValidationError(
                f"--pick: a trial has no numeric metric {pick.metric!r}; metrics it has: "
                f"{', '.join(sorted(metrics)) or 'none'}"
            )
        key = (float(raw) if pick.smallest else -float(raw), float(losses[i, col]), i)
        if chosen is None or key < chosen:
            chosen = key
    if chosen is None:  # cannot happen: the best itself is within any tolerance
        raise ValidationError("--pick: no trial within the tolerance")
    return chosen[2]
