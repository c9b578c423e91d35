"""Storage: SQLAlchemy models, the engine, the transaction helper, migrations, repositories.

    from hpo.storage import Database, create_engine_for, migrate, lock_study
    from hpo.storage import repositories as repo

    engine = create_engine_for(settings.database_url,
                               sqlite_busy_timeout_s=settings.sqlite_busy_timeout_seconds)
    migrate(engine)
    db = Database(engine)
    with db.transaction() as session:
        study = lock_study(session, study_id)
        trial = repo.insert_trial(session, study.id, params, exactly_once=True)

SQLite (the embedded default) and PostgreSQL are both first-class. Where to look:
`engine.py` how each is configured; `transactions.py` the transaction helper and how driver
errors become domain errors; `repositories/locks.py` every lock, and how each backend takes
it; `models.py` the tables (their enums are in `hpo.states`, re-exported here).
"""

from __future__ import annotations

from hpo.states import Direction, DirectionLike, FailureClass, StudyState, TrialState
from hpo.storage import repositories
from hpo.storage._types import utcnow
from hpo.storage.engine import create_engine_for, normalize_url
from hpo.storage.migrate import current_revision, head_revision, migrate
from hpo.storage.models import (
    Base,
    Comparison,
    Report,
    Study,
    Trial,
    Worker,
)
from hpo.storage.repositories.locks import (
    lock_least_busy_study,
    lock_study,
    lock_study_snapshot,
)
from hpo.storage.transactions import Database, to_domain_error

__all__ = [
    "Base",
    "Comparison",
    "Database",
    "Direction",
    "DirectionLike",
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
    "utcnow",
]
