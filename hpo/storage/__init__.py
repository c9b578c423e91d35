"""Storage: SQLAlchemy models, the engine and transaction helper, migrations, repositories.

    from hpo.storage import Database, create_engine_for, migrate, lock_study
    from hpo.storage import repositories as repo

    engine = create_engine_for(settings.database_url,
                               sqlite_busy_timeout_s=settings.sqlite_busy_timeout_seconds)
    migrate(engine)
    db = Database(engine)
    with db.transaction() as session:
        study = lock_study(session, study_id)
        trial = repo.insert_trial(session, study.id, params, exactly_once=True)

SQLite (the embedded default) and PostgreSQL are both first-class; see `engine.py` for how
each is configured and how the per-study lock works on each.
"""

from __future__ import annotations

from hpo.storage import repositories
from hpo.storage._types import utcnow
from hpo.storage.engine import (
    Database,
    create_engine_for,
    lock_least_busy_study,
    lock_study,
    lock_study_snapshot,
    normalize_url,
    to_domain_error,
    try_lock_study,
)
from hpo.storage.migrate import current_revision, head_revision, migrate
from hpo.storage.models import (
    Base,
    Comparison,
    Direction,
    FailureClass,
    Report,
    Study,
    StudyState,
    Trial,
    TrialState,
    Worker,
)

__all__ = [
    "Base",
    "Comparison",
    "Database",
    "Direction",
    "FailureClass",
    "Report",
    "Study",
    "StudyState",
    "Trial",
    "TrialState",
    "Worker",
    "create_engine_for",
    "current_revision",
    "head_revision",
    "lock_least_busy_study",
    "lock_study",
    "lock_study_snapshot",
    "migrate",
    "normalize_url",
    "repositories",
    "to_domain_error",
    "try_lock_study",
    "utcnow",
]
