"""The queries the service needs, as plain functions taking the session first.

None of them commits: the caller wraps them in `Database.transaction()`, and takes
`lock_study` first wherever writers of one study must not interleave.

- `studies`, `trials`, `reports`, `comparisons`, `workers`: the ORM queries, by table.
- `locks`: every statement that takes a lock (study, least busy study, trial, comparison,
  queued and expired trials, migrations), and the order in which claims try the studies.
- `claim_path`: the statements run on every claim and every complete, built once and run as
  SQLAlchemy Core (imported as a module: `from hpo.storage.repositories import claim_path`).
- `analytics`: narrow read-only columns behind the web UI's plots.
"""

from __future__ import annotations

from hpo.storage.repositories.comparisons import (
    FinishedTrial,
    comparison_studies,
    create_comparison,
    delete_comparison,
    finished_trials,
    get_comparison,
    list_comparisons,
)
from hpo.storage.repositories.locks import (
    claimable_study_ids,
    expired_leases,
    lock_comparison,
    lock_least_busy_study,
    lock_study,
    lock_study_snapshot,
    lock_trial,
    next_queued_trial,
)
from hpo.storage.repositories.logs import (
    KeptLog,
    append_log,
    log_attempts,
    read_log,
)
from hpo.storage.repositories.reports import (
    StudyReports,
    apply_last_report,
    record_report,
    record_reports,
    study_reports,
)
from hpo.storage.repositories.studies import (
    count_trials_by_state,
    count_trials_by_state_for,
    create_study,
    delete_study,
    get_study,
    list_studies,
    study_of_client_token,
    study_of_trial,
)
from hpo.storage.repositories.trials import (
    best_trial,
    count_trials,
    feasible_completed,
    find_trial_by_dedup_key,
    insert_trial,
    leaderboard,
    list_trials,
    next_trial_number,
    params_hash,
)
from hpo.storage.repositories.workers import active_study_counts, live_workers, touch_worker

__all__ = [
    "FinishedTrial",
    "KeptLog",
    "StudyReports",
    "active_study_counts",
    "append_log",
    "apply_last_report",
    "best_trial",
    "claimable_study_ids",
    "comparison_studies",
    "count_trials",
    "count_trials_by_state",
    "count_trials_by_state_for",
    "create_comparison",
    "create_study",
    "delete_comparison",
    "delete_study",
    "expired_leases",
    "feasible_completed",
    "find_trial_by_dedup_key",
    "finished_trials",
    "get_comparison",
    "get_study",
    "insert_trial",
    "leaderboard",
    "list_comparisons",
    "list_studies",
    "list_trials",
    "live_workers",
    "lock_comparison",
    "lock_least_busy_study",
    "lock_study",
    "lock_study_snapshot",
    "lock_trial",
    "log_attempts",
    "next_queued_trial",
    "next_trial_number",
    "params_hash",
    "read_log",
    "record_report",
    "record_reports",
    "study_of_client_token",
    "study_of_trial",
    "study_reports",
    "touch_worker",
]
