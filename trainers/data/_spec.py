"""What to load: a frozen, validated description of a dataset, parsed from a config value.

A dataset is named in one of three ways (the same in YAML, the REST API and Python):

    dataset: mnist1d                                   # a built-in name
    dataset: csv:data/iris.csv?label=species           # a user file; query keys: label, kind
    dataset: {path: data/iris.csv, label: species, val_fraction: 0.1}

User files are `.npz` (arrays `X`, `y`, optional `X_test`, `y_test`) or `.csv` with a header row
and a named label column (every other column is a numeric feature). Relative paths are resolved
against the working directory of the process that trains, except on a worker: there a path
is only read inside the worker's data roots, and a relative one is looked up under each
(trainers.data._locate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from trainers.errors import ConfigError, check_choice, check_float

BUILTIN_DATASETS = (
    "mnist1d",
    "mnist1d_shuffled",
    "mnist1d_large",
    "digits",
    "breast_cancer",
    "wine",
)
FILE_FORMATS = ("npz", "csv")
INPUT_KINDS = ("flat", "seq1d", "image2d")
_MAPPING_KEYS = ("name", "path", "label", "kind", "val_fraction", "test_fraction", "standardize")
_VALID_NAMES = ", ".join(BUILTIN_DATASETS) + ", npz:PATH, csv:PATH?label=COLUMN"


@dataclass(frozen=True)
class DataSpec:
    name: str  # a built-in dataset, or "npz" / "csv" for a user file
    path: str | None = None  # the user file; None for built-ins
    label: str | None = None  # csv: the label column
    kind: str | None = None  # npz: force the input kind (e.g. a 2D X read as seq1d)
    val_fraction: float = 0.2  # carved from train, stratified, per seed
    test_fraction: float = 0.2  # only for data without its own test set; a fixed seed carves it
    standardize: bool = True  # fitted on the training split only

    def __post_init__(self) -> None:
        check_choice("dataset", self.name, (*BUILTIN_DATASETS, *FILE_FORMATS))
        if self.name in FILE_FORMATS and not self.path:
            raise ConfigError(f"a {self.name} dataset needs a path, e.g. {self.name}:data/file")
        if self.name in BUILTIN_DATASETS and self.path is not None:
            raise ConfigError(f"built-in dataset {self.name!r} takes no path")
        if self.name == "csv" and not self.label:
            raise ConfigError("a csv dataset needs its label column: csv:PATH?label=COLUMN")
        if self.name != "csv" and self.label is not None:
            raise ConfigError("label applies to csv datasets only")
        if self.kind is not None:
            check_choice("input kind", self.kind, INPUT_KINDS)
            if self.name != "npz":
                raise ConfigError("kind applies to npz datasets only")
        check_float("val_fraction", self.val_fraction, low=0.0, high=1.0, high_open=True)
        check_float(
            "test_fraction", self.test_fraction, low=0.0, high=1.0, low_open=True, high_open=True
        )
        if not isinstance(self.standardize, bool):
            raise ConfigError(f"standardize must be true or false, got {self.standardize!r}")

    @classmethod
    def parse(cls, value: object) -> DataSpec:
        """Build a spec from a name string or a mapping (see the module docstring)."""
        if isinstance(value, DataSpec):
            return value
        if isinstance(value, str):
            return cls._from_string(value)
        if isinstance(value, Mapping):
            return cls._from_mapping(value)
        raise ConfigError(
            f"dataset must be a name or a mapping, got {value!r}; valid: {_VALID_NAMES}"
        )

    @classmethod
    def _from_string(cls, text: str) -> DataSpec:
        if text in BUILTIN_DATASETS:
            return cls(name=text)
        scheme, sep, rest = text.partition(":")
        if sep and scheme in FILE_FORMATS:
            path, _, query = rest.partition("?")
        else:
            path, _, query = text.partition("?")
            scheme = Path(path).suffix.lstrip(".").lower()
            if scheme not in FILE_FORMATS:
                raise ConfigError(f"unknown dataset {text!r}; valid: {_VALID_NAMES}")
        options = dict(parse_qsl(query, keep_blank_values=True))
        unknown = set(options) - {"label", "kind"}
        if unknown:
            raise ConfigError(f"unknown dataset option(s) {sorted(unknown)}; valid: label, kind")
        return cls(name=scheme, path=path, label=options.get("label"), kind=options.get("kind"))

    @classmethod
    def _from_mapping(cls, mapping: Mapping[object, object]) -> DataSpec:
        unknown = sorted(str(k) for k in mapping if k not in _MAPPING_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown dataset key(s) {unknown}; valid: {', '.join(_MAPPING_KEYS)}"
            )
        fields = {str(k): v for k, v in mapping.items()}
        name = fields.pop("name", None)
        path = fields.get("path")
        if name is None:
            if not isinstance(path, str):
                raise ConfigError("a dataset mapping needs a name or a path")
            name = Path(path).suffix.lstrip(".").lower()
            if name not in FILE_FORMATS:
                raise ConfigError(f"dataset path {path!r} must end in .npz or .csv")
        if "val_fraction" in fields:
            fields["val_fraction"] = check_float("val_fraction", fields["val_fraction"], low=0.0)
        if "test_fraction" in fields:
            fields["test_fraction"] = check_float("test_fraction", fields["test_fraction"], low=0.0)
        return cls(name=str(name), **fields)  # type: ignore[arg-type]

    def describe(self) -> str:
        """A short name for logs and reports."""
        return self.name if self.path is None else f"{self.name}:{self.path}"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name}
        for key in ("path", "label", "kind"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update(val_fraction=self.val_fraction, standardize=self.standardize)
        if self.name in FILE_FORMATS or self.name in ("digits", "breast_cancer", "wine"):
            out["test_fraction"] = self.test_fraction
        return out
