"""The queries the service needs, as plain functions taking the session first.

None of them commits: the caller wraps them in `Database.transaction()`, and takes
`lock_study` first wherever writers of one study must not interleave.
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
    lock_comparison,
)
from hpo.storage.repositories.reports import (
    StudyReports,
    list_reports,
    record_report,
    study_reports,
    values_at_step,
)
from hpo.storage.repositories.studies import (
    claimable_studies,
    claimable_study_ids,
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
    expired_leases,
    find_trial_by_dedup_key,
    get_trial,
    insert_trial,
    leaderboard,
    list_trials,
    lock_trial,
    next_queued_trial,
    next_trial_number,
    params_hash,
)
from hpo.storage.repositories.workers import list_workers, touch_worker, upsert_worker

__all__ = [
    "FinishedTrial",
    "StudyReports",
    "best_trial",
    "claimable_studies",
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
    "find_trial_by_dedup_key",
    "finished_trials",
    "get_comparison",
    "get_study",
    "get_trial",
    "insert_trial",
    "leaderboard",
    "list_comparisons",
    "list_reports",
    "list_studies",
    "list_trials",
    "list_workers",
    "lock_comparison",
    "lock_trial",
    "next_queued_trial",
    "next_trial_number",
    "params_hash",
    "record_report",
    "study_of_client_token",
    "study_of_trial",
    "study_reports",
    "touch_worker",
    "upsert_worker",
    "values_at_step",
]
