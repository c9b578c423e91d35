"""Per-study client tokens: what a user's own training code holds to ask and tell for one
study without the admin token.

A token is made when a study is created with `client_token: true`, shown once in that answer,
and stored only as its sha256: a database dump gives no usable token. The tokens are random
(256 bits), so a plain hash needs no salt or stretching; looking one up is one indexed query.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from hpo.service.tokens import secret_digest
from hpo.storage import Database
from hpo.storage import repositories as repo

# A prefix a person (and a secret scanner) can recognize, and which never collides with the
# hex admin/worker tokens that `openssl rand -hex` makes.
PREFIX = "hpoc_"


def new_client_token() -> tuple[str, str]:
    """(token, its hash to store)."""
    token = PREFIX + secrets.token_urlsafe(32)
    return token, hash_client_token(token)


def hash_client_token(token: str) -> str:
    return secret_digest(token)


@dataclass(frozen=True)
class ClientTokenScope:
    """Which study a client token belongs to, and (when asked) which study a trial is in."""

    study_id: int
    trial_study_id: int | None = None


class ClientTokens:
    def __init__(self, db: Database) -> None:
        self.db = db

    def scope(self, token: str, trial_id: int | None = None) -> ClientTokenScope | None:
        """The token's study (and `trial_id`'s), or None when no study has this token."""
        with self.db.transaction(write=False) as session:
            study_id = repo.study_of_client_token(session, hash_client_token(token))
            if study_id is None:
                return None
            trial_study = repo.study_of_trial(session, trial_id) if trial_id is not None else None
            return ClientTokenScope(study_id, trial_study)
