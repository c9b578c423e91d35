"""Finished trials logged to a tracking server (MLflow) off the request path: an outbox
written with each trial's finish, drained by a background sink (`sink.py`); the only module
that imports MLflow is `mlflow_writer.py` (the optional `mlflow` extra)."""

from __future__ import annotations

from hpo.service.tracking.records import TrialForTracking, read_trial
from hpo.service.tracking.sink import RunWriter, TrackingSink, experiment_name

__all__ = ["RunWriter", "TrackingSink", "TrialForTracking", "experiment_name", "read_trial"]
