"""Offline datasets and their train / validation / test splits.

data = load_dataset("mnist1d", seed=0)            # or "digits", "csv:f.csv?label=y", ...
data.x_train.shape                                # (3200, 1, 40)
data.kind, data.input_shape, data.n_classes       # "seq1d", (1, 40), 10
"""

from __future__ import annotations

from trainers.data._sources import default_cache_dir
from trainers.data._spec import BUILTIN_DATASETS, INPUT_KINDS, DataSpec
from trainers.data._splits import TEST_SPLIT_SEED, Dataset, load_dataset, stratified_split

__all__ = [
    "BUILTIN_DATASETS",
    "INPUT_KINDS",
    "TEST_SPLIT_SEED",
    "DataSpec",
    "Dataset",
    "default_cache_dir",
    "load_dataset",
    "stratified_split",
]
