"""Train / validation / test splits and standardization.

The test set never moves: it is the dataset's own test set, or (for data without one) a stratified
slice carved with a fixed seed. Validation is carved from what remains, stratified, with the run's
seed. Standardization statistics come from the training split only, so neither validation nor test
leaks into training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainers.data._sources import RawData, load_raw
from trainers.data._spec import DataSpec
from trainers.errors import ConfigError

# The seed that carves a test set for data without its own; fixed so that test never moves
# between runs, seeds or searches.
TEST_SPLIT_SEED = 0


@dataclass(frozen=True, eq=False)
class Dataset:
    """Standardized splits as float32 features and int64 labels, ready to become tensors."""

    name: str
    kind: str  # flat | seq1d | image2d: which models fit
    input_shape: tuple[int, ...]  # per sample: (features,), (channels, length) or (c, h, w)
    n_classes: int
    classes: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray  # empty when val_fraction is 0 (final training)
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def load_dataset(
    spec: DataSpec | str | dict[str, object],
    *,
    seed: int = 0,
    val_fraction: float | None = None,
    cache_dir: Path | None = None,
    data_roots: Sequence[Path] | None = None,
) -> Dataset:
    """Load a dataset and split it for one run.

    `seed` picks the validation split; `val_fraction` overrides the spec's (0 for final training,
    which trains on train + validation). `cache_dir` defaults to $HPO_CACHE_DIR or ~/.cache/hpo.
    `data_roots`: the only folders a user file may come from (a worker's); None: any path.
    """
    spec = DataSpec.parse(spec)
    fraction = spec.val_fraction if val_fraction is None else val_fraction
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {fraction!r}")
    raw = load_raw(spec, cache_dir, data_roots)
    x_pool, y_pool, x_test, y_test = _test_split(raw, spec.test_fraction)
    train_idx, val_idx = stratified_split(y_pool, fraction, seed)
    x_train, x_val = x_pool[train_idx], x_pool[val_idx]
    if spec.standardize:
        mean, std = _fit_standardizer(x_train, raw.kind)
        x_train, x_val, x_test = ((a - mean) / std for a in (x_train, x_val, x_test))
    return Dataset(
        name=spec.describe(),
        kind=raw.kind,
        input_shape=tuple(int(d) for d in raw.x.shape[1:]),
        n_classes=len(raw.classes),
        classes=raw.classes,
        x_train=np.ascontiguousarray(x_train, dtype=np.float32),
        y_train=y_pool[train_idx],
        x_val=np.ascontiguousarray(x_val, dtype=np.float32),
        y_val=y_pool[val_idx],
        x_test=np.ascontiguousarray(x_test, dtype=np.float32),
        y_test=y_test,
    )


def _test_split(
    raw: RawData, test_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if raw.x_test is not None and raw.y_test is not None:
        return raw.x, raw.y, raw.x_test, raw.y_test
    pool_idx, test_idx = stratified_split(raw.y, test_fraction, TEST_SPLIT_SEED)
    return raw.x[pool_idx], raw.y[pool_idx], raw.x[test_idx], raw.y[test_idx]


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of `y` into (keep, held_out) with round(fraction * n) held out, each class
    represented in proportion (largest remainder), both sorted. Deterministic per seed."""
    n = len(y)
    n_out = round(fraction * n)
    if n_out == 0:
        return np.arange(n), np.arange(0)
    if n_out >= n:
        raise ConfigError(f"a split of {fraction} leaves no training rows out of {n}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * (n_out / n)
    take = np.floor(quota).astype(np.int64)
    # Hand the rows still missing to the classes with the largest fractional parts.
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: n_out - int(take.sum())]] += 1
    held = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take, strict=True)]
    held_out = np.sort(np.concatenate(held))
    keep = np.setdiff1d(np.arange(n), held_out, assume_unique=True)
    return keep, held_out


def _fit_standardizer(x: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    # Tabular features each get their own scale. Signals and images share one scale per channel:
    # per-position statistics would distort the spatial structure a CNN relies on.
    axes = (0,) if kind == "flat" else tuple(i for i in range(x.ndim) if i != 1)
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = x.std(axis=axes, keepdims=True, dtype=np.float64)
    std[std < 1e-8] = 1.0  # constant features (digit corners) stay at zero instead of NaN
    return mean.astype(np.float32), std.astype(np.float32)
