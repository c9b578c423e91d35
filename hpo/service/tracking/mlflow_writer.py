"""The one module that speaks to MLflow (the optional `mlflow` extra: mlflow-skinny is
enough), through its tracking client only, never its global "active run" state: the sink
runs in a server thread beside request threads.

What a finished trial becomes: a run named "trial N" with the training config's params, the
per-step values under the task's metric (e.g. `val_accuracy` at steps 0, 1, ...), the final
value as `value` and each numeric entry of the trial's metrics as `final/<name>`, the run's
status (completed FINISHED, pruned KILLED, failed FAILED), start and end times, and tags:
`hpo.study_id`, `hpo.study_name`, `hpo.trial_id`, `hpo.trial_number`, `hpo.sampler`,
`hpo.state` (and `hpo.failure_class`, `hpo.tags`, the note as MLflow's own note tag).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from hpo.errors import ValidationError
from hpo.service.tracking.records import TrialForTracking

_STATUS = {"completed": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}
# MLflow's limits per log_batch call (metrics, params, tags), and on a param's value.
_BATCH_METRICS, _BATCH_PARAMS, _BATCH_TAGS = 1000, 100, 100
_PARAM_VALUE_CHARS = 6000
_TAG_VALUE_CHARS = 5000
_T = TypeVar("_T")


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def trial_tags(record: TrialForTracking) -> dict[str, str]:
    tags = {
        "hpo.study_id": str(record.study_id),
        "hpo.study_name": record.study_name,
        "hpo.trial_id": str(record.trial_id),
        "hpo.trial_number": str(record.number),
        "hpo.sampler": record.sampler,
        "hpo.state": record.state,
    }
    if record.failure_class:
        tags["hpo.failure_class"] = record.failure_class
        tags["hpo.failure_message"] = (record.failure_message or "")[:_TAG_VALUE_CHARS]
    if record.tags:
        tags["hpo.tags"] = ",".join(record.tags)
    if record.note:
        tags["mlflow.note.content"] = record.note
    return tags


class MlflowWriter:
    """Makes experiments and runs on one tracking URI (any MLflow accepts: `file:`,
    `http(s)://`, `sqlite:`...)."""

    def __init__(self, tracking_uri: str) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as e:  # the optional extra is not installed
            raise ValidationError(
                "--mlflow-tracking-uri needs MLflow: pip install 'hpo[mlflow]' (mlflow-skinny)"
            ) from e
        self._make_client = MlflowClient
        self.tracking_uri = tracking_uri
        self._client: Any = None

    @property
    def client(self) -> Any:
        """MLflow's client, made on first use: making it opens the store (a `file:` store
        creates its folder), which must not fail the server's start while MLflow is down."""
        if self._client is None:
            self._client = self._make_client(self.tracking_uri)
        return self._client

    def experiment(self, name: str) -> str:
        """The id of the experiment of this name, made if missing."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        return str(self.client.create_experiment(name))

    def container_run(
        self, experiment_id: str, name: str, tags: dict[str, str], parent_run_id: str | None
    ) -> str:
        """A run that holds others (a comparison, one of its studies)."""
        all_tags = dict(tags)
        if parent_run_id is not None:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(experiment_id, tags=all_tags, run_name=name)
        self.client.set_terminated(run.info.run_id, "FINISHED")
        return str(run.info.run_id)

    def start_trial_run(
        self, experiment_id: str, record: TrialForTracking, parent_run_id: str | None
    ) -> str:
        tags = {"hpo.trial_id": str(record.trial_id)}
        if parent_run_id is not None:
            tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(
            experiment_id,
            start_time=_ms(record.started_at or record.finished_at),
            tags=tags,
            run_name=f"trial {record.number}",
        )
        return str(run.info.run_id)

    def fill_trial_run(self, run_id: str, record: TrialForTracking) -> None:
        from mlflow.entities import Metric, Param, RunTag

        stamp = _ms(record.finished_at) or 0
        metrics = [Metric(record.metric, value, stamp, step) for step, value in record.reports]
        if record.value is not None:
            metrics.append(Metric("value", record.value, stamp, 0))
        for key, value in sorted(record.metrics.items()):
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if numeric and math.isfinite(float(value)):
                metrics.append(Metric(f"final/{key}", float(value), stamp, 0))
        params = [
            Param(str(key), str(value)[:_PARAM_VALUE_CHARS])
            for key, value in sorted(record.params.items())
        ]
        tags = [RunTag(key, value) for key, value in trial_tags(record).items()]
        for chunk in _chunks(params, _BATCH_PARAMS):
            self.client.log_batch(run_id, params=list(chunk))
        for tag_chunk in _chunks(tags, _BATCH_TAGS):
            self.client.log_batch(run_id, tags=list(tag_chunk))
        for metric_chunk in _chunks(metrics, _BATCH_METRICS):
            self.client.log_batch(run_id, metrics=list(metric_chunk))
        self.client.set_terminated(
            run_id, _STATUS.get(record.state, "FAILED"), end_time=_ms(record.finished_at)
        )

    def discard_run(self, run_id: str) -> None:
        """Delete a run an earlier, failed attempt left half-logged (gone already: fine)."""
        try:
            self.client.delete_run(run_id)
        except Exception as e:  # MLflow raises its own exception types for a missing run
            if "not found" not in str(e).lower() and "RESOURCE_DOES_NOT_EXIST" not in str(e):
                raise
