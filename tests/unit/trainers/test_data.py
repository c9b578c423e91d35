from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest

from trainers.data import BUILTIN_DATASETS, Dataset, DataSpec, load_dataset, stratified_split
from trainers.errors import ConfigError

pytestmark = pytest.mark.unit

# name -> (kind, per-sample shape, classes, (train, val, test) with the default 20% validation)
EXPECTED = {
    "mnist1d": ("seq1d", (1, 40), 10, (3200, 800, 1000)),
    "mnist1d_shuffled": ("seq1d", (1, 40), 10, (3200, 800, 1000)),
    "digits": ("image2d", (1, 8, 8), 10, (1150, 288, 359)),
    "breast_cancer": ("flat", (30,), 2, (364, 91, 114)),
    "wine": ("flat", (13,), 3, (114, 28, 36)),
}


def _rows(x: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in x}


def _assert_disjoint(d: Dataset) -> None:
    train, val, test = _rows(d.x_train), _rows(d.x_val), _rows(d.x_test)
    assert len(train) == len(d.x_train)  # rows are unique in all of these datasets
    assert not train & val
    assert not train & test
    assert not val & test


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_dataset_shapes_sizes_and_disjoint_splits(name: str, cache_dir: Path) -> None:
    kind, shape, n_classes, (n_train, n_val, n_test) = EXPECTED[name]
    d = load_dataset(name, seed=0)
    assert (d.kind, d.input_shape, d.n_classes) == (kind, shape, n_classes)
    assert d.sizes() == {"train": n_train, "val": n_val, "test": n_test}
    assert d.x_train.shape == (n_train, *shape) and d.x_train.dtype == np.float32
    assert d.y_train.dtype == np.int64 and set(np.unique(d.y_train)) == set(range(n_classes))
    _assert_disjoint(d)


def test_large_variant_is_declared() -> None:
    # Generating 50k samples takes ~25 s, too long for the unit suite; the name must still parse.
    assert "mnist1d_large" in BUILTIN_DATASETS
    assert DataSpec.parse("mnist1d_large").name == "mnist1d_large"


@pytest.mark.parametrize("name", ["digits", "wine", "mnist1d"])
def test_test_set_is_fixed_and_validation_follows_the_seed(name: str, cache_dir: Path) -> None:
    a, b, c = (load_dataset(name, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.x_val, b.x_val)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert _rows(a.x_val) != _rows(c.x_val)
    # Test rows are the same set of samples for every seed (values differ only by the
    # standardization, which is fitted on each seed's training split).
    np.testing.assert_array_equal(a.y_test, c.y_test)
    assert not _rows(c.x_train) & _rows(c.x_test)


def test_validation_is_stratified(cache_dir: Path) -> None:
    d = load_dataset("digits", seed=3)
    train_share = np.bincount(d.y_train) / len(d.y_train)
    val_share = np.bincount(d.y_val) / len(d.y_val)
    assert np.abs(train_share - val_share).max() < 0.01


def test_standardization_is_fitted_on_train_only(cache_dir: Path) -> None:
    d = load_dataset("wine", seed=0)
    np.testing.assert_allclose(d.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(d.x_train.std(axis=0), 1.0, atol=1e-4)
    assert np.abs(d.x_val.mean(axis=0)).max() > 1e-3  # validation is not re-centred on itself
    # Images share one scale per channel, not per pixel: the constant corner stays constant.
    img = load_dataset("digits", seed=0)
    assert abs(float(img.x_train.mean())) < 1e-5 and abs(float(img.x_train.std()) - 1) < 1e-4
    assert np.unique(img.x_train[:, 0, 0, 0]).size == 1


def test_final_split_has_no_validation(cache_dir: Path) -> None:
    d = load_dataset("digits", seed=0, val_fraction=0.0)
    assert d.sizes() == {"train": 1438, "val": 0, "test": 359}


def test_mnist1d_is_cached_and_leaves_global_rngs_alone(cache_dir: Path) -> None:
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(123)
    load_dataset("mnist1d")  # may generate (make_dataset reseeds the global generators)
    assert (np.random.rand(), random.random()) == expected
    assert (cache_dir / "mnist1d-v1.npz").is_file()
    start = time.perf_counter()
    load_dataset("mnist1d")
    assert time.perf_counter() - start < 1.0  # a cache hit: no generation


def test_stratified_split_is_disjoint_exact_and_deterministic() -> None:
    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    keep, held = stratified_split(y, 0.25, seed=7)
    assert len(held) == 25 and len(keep) == 75
    assert not set(keep) & set(held) and set(keep) | set(held) == set(range(100))
    # 12.5, 7.5 and 5 rows: the tied half row goes to the first class
    assert np.bincount(y[held]).tolist() == [13, 7, 5]
    again, _ = stratified_split(y, 0.25, seed=7)
    np.testing.assert_array_equal(keep, again)


# --- the user's own files -------------------------------------------------------------------------


def test_npz_without_test_set(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, X=rng.normal(size=(100, 5)), y=np.array(["cat", "dog"] * 50))
    d = load_dataset(f"npz:{path}", seed=0)
    assert (d.kind, d.input_shape, d.n_classes, d.classes) == ("flat", (5,), 2, ("cat", "dog"))
    assert d.sizes() == {"train": 64, "val": 16, "test": 20}
    _assert_disjoint(d)


def test_npz_with_its_own_test_set_and_kind(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "seq.npz"
    np.savez(
        path,
        X=rng.normal(size=(50, 16)),
        y=np.arange(50) % 5,
        X_test=rng.normal(size=(10, 16)),
        y_test=np.arange(10) % 5,
    )
    d = load_dataset(f"{path}?kind=seq1d", seed=0)
    assert (d.kind, d.input_shape, d.n_classes) == ("seq1d", (1, 16), 5)
    assert d.sizes() == {"train": 40, "val": 10, "test": 10}


def test_csv_with_named_label_column(tmp_path: Path) -> None:
    path = tmp_path / "flowers.csv"
    rng = np.random.default_rng(0)
    lines = ["a,species,b,c"]
    for i in range(60):
        a, b, c = rng.normal(size=3)
        lines.append(f"{a},{['setosa', 'virginica', 'versicolor'][i % 3]},{b},{c}")
    path.write_text("\n".join(lines) + "\n")
    specs: tuple[str | dict[str, object], ...] = (
        f"csv:{path}?label=species",
        {"path": str(path), "label": "species"},
    )
    for spec in specs:
        d = load_dataset(spec, seed=1)
        assert (d.kind, d.input_shape, d.n_classes) == ("flat", (3,), 3)
        assert d.classes == ("setosa", "versicolor", "virginica")
        assert d.sizes() == {"train": 38, "val": 10, "test": 12}
        _assert_disjoint(d)


def test_csv_numeric_labels_sort_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("x,y\n" + "".join(f"{i},{[2, 10, 1][i % 3]}\n" for i in range(30)))
    assert load_dataset(f"csv:{path}?label=y").classes == ("1", "2", "10")


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("imagenet", "valid: mnist1d, mnist1d_shuffled, mnist1d_large, digits, breast_cancer"),
        ("csv:/nope.csv", "label column"),
        ("csv:/nope.csv?label=y&colour=red", "valid: label, kind"),
        ({"name": "digits", "val_fraction": 1.0}, "val_fraction must be in [0.0, 1.0)"),
        ({"name": "digits", "shuffle": True}, "valid: name, path, label"),
        ("npz:/does/not/exist.npz", "does not exist"),
        ("data.parquet", "valid: mnist1d"),
        (42, "valid: mnist1d"),
    ],
)
def test_bad_dataset_specs_say_what_is_valid(spec: object, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_dataset(spec)  # type: ignore[arg-type]
    assert needle in str(err.value)


def test_bad_user_files(tmp_path: Path) -> None:
    no_y = tmp_path / "no_y.npz"
    np.savez(no_y, X=np.zeros((4, 2)))
    with pytest.raises(ConfigError, match=r"lacks array\(s\) \['y'\]"):
        load_dataset(f"npz:{no_y}")
    text = tmp_path / "t.csv"
    text.write_text("a,b,label\n1,2,x\n3,oops,y\n")
    with pytest.raises(ConfigError, match=r"t.csv:3: column 'b' is not a number"):
        load_dataset(f"csv:{text}?label=label")
    with pytest.raises(ConfigError, match=r"'target' is not in the header .* \(3 columns\)"):
        load_dataset(f"csv:{text}?label=target")
