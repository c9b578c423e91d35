"""Shared fixtures for the trainers tests: one MNIST-1D cache per session, tiny datasets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from trainers.data import Dataset


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private HPO_CACHE_DIR: MNIST-1D is generated once per session (a few seconds)."""
    path = tmp_path_factory.mktemp("hpo-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("HPO_CACHE_DIR", str(path))
    yield path
    mp.undo()


def make_tiny(kind: str = "flat", n: int = 64, n_classes: int = 3, seed: int = 0) -> Dataset:
    """A small separable problem: the class shifts the mean of every feature."""
    shape = {"flat": (6,), "seq1d": (1, 12), "image2d": (1, 6, 6)}[kind]
    rng = np.random.default_rng(seed)

    def split(size: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(size) % n_classes
        x = rng.normal(size=(size, *shape)) + 2.0 * y.reshape(-1, *([1] * len(shape)))
        return x.astype(np.float32), y.astype(np.int64)

    (xt, yt), (xv, yv), (xs, ys) = split(n), split(n // 2), split(n // 2)
    return Dataset(
        name=f"tiny-{kind}",
        kind=kind,
        input_shape=shape,
        n_classes=n_classes,
        classes=tuple(str(i) for i in range(n_classes)),
        x_train=xt,
        y_train=yt,
        x_val=xv,
        y_val=yv,
        x_test=xs,
        y_test=ys,
    )


@pytest.fixture
def tiny() -> Dataset:
    return make_tiny()
