"""Raw datasets as numpy arrays, before splitting: generated, bundled, or the user's own file.

Nothing here touches the network. MNIST-1D is generated with the `mnist1d` package's own
generator (never its downloading `get_dataset`) and cached as `.npz` so the second load is instant.
"""

from __future__ import annotations

import codecs
import csv
import os
import random
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainers.data._locate import locate_user_file
from trainers.data._spec import DataSpec
from trainers.errors import ConfigError

# Bump when the generated arrays change, so stale caches are not reused.
_CACHE_VERSION = 1


@dataclass(frozen=True, eq=False)
class RawData:
    """Features (float32, (n, *shape)) and labels encoded 0..K-1, before any split."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None  # the dataset's own test set, if it has one
    y_test: np.ndarray | None
    kind: str  # flat | seq1d | image2d
    classes: tuple[str, ...]  # original label of each class index


def default_cache_dir() -> Path:
    return Path(os.environ.get("HPO_CACHE_DIR") or Path.home() / ".cache" / "hpo")


def load_raw(
    spec: DataSpec, cache_dir: Path | None = None, data_roots: Sequence[Path] | None = None
) -> RawData:
    """`data_roots`: the folders a user file may be read from (a worker's); None reads any path
    (see trainers.data._locate)."""
    if spec.name.startswith("mnist1d"):
        return _mnist1d(spec.name, cache_dir or default_cache_dir())
    if spec.name in ("digits", "breast_cancer", "wine"):
        return _sklearn(spec.name)
    assert spec.path is not None  # DataSpec guarantees a path for file datasets
    path = locate_user_file(spec.path, data_roots)
    try:
        if spec.name == "npz":
            return _npz(path, spec.kind)
        assert spec.label is not None
        return _csv(path, spec.label)
    except ConfigError:
        raise
    except Exception as e:
        # A parser's own message may quote the file (numpy's "could not convert string to
        # float: '<a line>'", a decoder's bytes), and a trial's failure message is published:
        # name the file and the kind of error only. Our own ConfigErrors above say where.
        raise ConfigError(
            f"cannot read {spec.path!r} as {spec.name} ({type(e).__name__}): check the file's "
            "format"
        ) from None


# --- MNIST-1D -------------------------------------------------------------------------------------

_MNIST1D_VARIANTS: dict[str, dict[str, Any]] = {
    "mnist1d": {},  # 4000 train + 1000 test, as in the paper
    "mnist1d_shuffled": {"shuffle_seq": True},  # spatial order destroyed: CNNs lose their edge
    "mnist1d_large": {"num_samples": 50_000},  # 40k train + 10k test, ~25 s to generate once
}


def _mnist1d(name: str, cache_dir: Path) -> RawData:
    path = cache_dir / f"{name}-v{_CACHE_VERSION}.npz"
    if not path.is_file():
        arrays = _generate_mnist1d(_MNIST1D_VARIANTS[name])
        _atomic_savez(path, arrays)
    with np.load(path) as saved:
        x, y = saved["x"], saved["y"]
        x_test, y_test = saved["x_test"], saved["y_test"]
    # (n, 40) -> (n, 1, 40): one channel, 40 time steps
    return RawData(
        x=x[:, None, :].astype(np.float32),
        y=y.astype(np.int64),
        x_test=x_test[:, None, :].astype(np.float32),
        y_test=y_test.astype(np.int64),
        kind="seq1d",
        classes=tuple(str(i) for i in range(10)),
    )


def _generate_mnist1d(overrides: dict[str, Any]) -> dict[str, np.ndarray]:
    # Imported here: mnist1d pulls in matplotlib (~2 s), needed only on a cache miss.
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    for key, value in overrides.items():
        setattr(args, key, value)
    # make_dataset reseeds the global `random` and numpy generators; restore them afterwards so
    # loading data never changes what the caller's own random draws would be.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # Several workers may generate at once: write aside, then rename, so no reader sees half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- scikit-learn's bundled datasets --------------------------------------------------------------


def _sklearn(name: str) -> RawData:
    # Imported here: scikit-learn takes about a second, and only these datasets need it.
    from sklearn import datasets

    loader = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
    }[name]
    bunch = loader()
    x = np.asarray(bunch.data, dtype=np.float32)
    kind = "flat"
    if name == "digits":
        x = x.reshape(-1, 1, 8, 8)  # (n, channels, height, width)
        kind = "image2d"
    classes = tuple(str(c) for c in bunch.target_names)
    return RawData(x, np.asarray(bunch.target, dtype=np.int64), None, None, kind, classes)


# --- the user's files -----------------------------------------------------------------------------

_NDIM_KIND = {2: "flat", 3: "seq1d", 4: "image2d"}


def _npz(path: Path, kind: str | None) -> RawData:
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {k: saved[k] for k in saved.files}
    except (OSError, ValueError) as e:
        # The type only: the loader's message may quote the file's first bytes.
        raise ConfigError(f"cannot read {str(path)!r} as .npz ({type(e).__name__})") from None
    missing = {"X", "y"} - set(arrays)
    if missing:
        raise ConfigError(
            f"{str(path)!r} lacks array(s) {sorted(missing)}; needs X, y (optional X_test, y_test)"
        )
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise ConfigError(f"{str(path)!r}: give both X_test and y_test, or neither")
    x, x_test = arrays["X"], arrays.get("X_test")
    kind = kind or _NDIM_KIND.get(x.ndim)
    if kind is None:
        raise ConfigError(f"X has {x.ndim} dimensions; valid: 2 (flat), 3 (seq1d), 4 (image2d)")
    x = _add_channel(x, kind)
    if x_test is not None:
        x_test = _add_channel(x_test, kind)
        if x_test.shape[1:] != x.shape[1:]:
            raise ConfigError(
                f"X_test has shape {x_test.shape[1:]} per sample, X has {x.shape[1:]}"
            )
    return _encode(x, arrays["y"], x_test, arrays.get("y_test"), kind)


def _add_channel(x: np.ndarray, kind: str) -> np.ndarray:
    # A (n, length) array read as seq1d, or (n, h, w) as image2d, gets a single channel.
    wanted = {"flat": 2, "seq1d": 3, "image2d": 4}[kind]
    if x.ndim == wanted - 1 and kind != "flat":
        x = x[:, None]
    if kind == "flat" and x.ndim > 2:
        x = x.reshape(len(x), -1)
    if x.ndim != wanted:
        raise ConfigError(f"X of shape {x.shape} cannot be read as {kind}")
    if not np.issubdtype(x.dtype, np.number):
        raise ConfigError(f"X must be numeric, got dtype {x.dtype}")
    return x.astype(np.float32)


def _csv(path: Path, label: str) -> RawData:
    # Messages name the file, the line and the column, never a value: a failure message is
    # published with the trial, and the file is not the message's to show.
    reader: Any = None
    with path.open("rb") as handle:
        try:
            reader = csv.reader(_utf8_lines(path, handle))
            return _csv_rows(path, reader, label)
        except csv.Error:
            raise ConfigError(
                f"{path}:{reader.line_num}: malformed CSV (an unclosed quote, a NUL byte or an "
                "over-long field)"
            ) from None


def _utf8_lines(path: Path, handle: Any) -> Iterator[str]:
    """The file's lines as text, decoded one by one so that an error can name its line."""
    for number, raw in enumerate(handle, start=1):
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)  # Excel writes a BOM
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(
                f"{path}:{number}: not UTF-8 text; save the file as UTF-8 CSV"
            ) from None


def _csv_rows(path: Path, reader: Any, label: str) -> RawData:
    header = next(reader, None)
    if header is None:
        raise ConfigError(f"{str(path)!r} is empty")
    header = [h.strip() for h in header]
    if label not in header:
        raise ConfigError(
            f"label column {label!r} is not in the header of {str(path)!r} ({len(header)} "
            "columns): name one of its header's columns with ?label=COLUMN"
        )
    label_at = header.index(label)
    rows, labels = [], []
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise ConfigError(f"{path}:{line_no}: {len(row)} fields, header has {len(header)}")
        labels.append(row[label_at].strip())
        features = []
        for i, value in enumerate(row):
            if i == label_at:
                continue
            try:
                features.append(float(value))
            except ValueError:
                raise ConfigError(
                    f"{path}:{line_no}: column {header[i][:80]!r} is not a number; every column "
                    f"but the label {label!r} must be numeric"
                ) from None
        rows.append(features)
    if not rows:
        raise ConfigError(f"{str(path)!r} has no data rows")
    return _encode(np.asarray(rows, dtype=np.float32), np.asarray(labels), None, None, "flat")


def _encode(
    x: np.ndarray, y: np.ndarray, x_test: np.ndarray | None, y_test: np.ndarray | None, kind: str
) -> RawData:
    """Map arbitrary labels (ints, strings) to 0..K-1, in sorted order of the originals."""
    if y.ndim != 1 or len(y) != len(x):
        raise ConfigError(f"y must be 1-D with one label per row of X ({len(x)}), got {y.shape}")
    if (
        y_test is not None
        and x_test is not None
        and (y_test.ndim != 1 or len(y_test) != len(x_test))
    ):
        raise ConfigError(f"y_test must be 1-D with {len(x_test)} labels, got {y_test.shape}")
    if y.dtype.kind in "US" and all(_is_number(v) for v in y):
        y = y.astype(np.float64)  # numeric labels from a csv sort as numbers, not text
    classes, y_encoded = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ConfigError(f"need at least 2 classes, found {len(classes)}")
    y_test_encoded = None
    if y_test is not None:
        y_test = y_test.astype(y.dtype)
        unseen = np.setdiff1d(y_test, classes)
        if len(unseen):
            raise ConfigError(f"y_test has {len(unseen)} label(s) never seen in y")
        y_test_encoded = np.searchsorted(classes, y_test).astype(np.int64)
    names = tuple(_label_name(c) for c in classes)
    return RawData(x, y_encoded.astype(np.int64), x_test, y_test_encoded, kind, names)


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _label_name(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)
