"""A user's note and tags on a trial (`PATCH /api/v1/trials/{id}`): shown in the trials
table and carried in every trial view (so exports have them).

Bounded, as every free text the service stores: a note of at most 2000 characters, at most 16
tags of 1 to 40 printable characters each (duplicates dropped, order kept). No control
characters but newline and tab in a note, none at all in a tag.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from hpo.errors import ValidationError
from hpo.service.views import TrialView
from hpo.storage import Database
from hpo.storage import repositories as repo

MAX_NOTE_LENGTH = 2000
MAX_TAGS = 16
MAX_TAG_LENGTH = 40
_ALLOWED_IN_NOTE = frozenset("\n\t")


def _printable(text: str, allowed: frozenset[str], what: str) -> str:
    for ch in text:
        if ch not in allowed and unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            raise ValueError(
                f"{what} contains the control character U+{ord(ch):04X}: use printable text"
            )
    return text


def _check_tag(tag: str) -> str:
    return _printable(tag, frozenset(), "a tag")


def _check_note(note: str | None) -> str | None:
    return None if note is None else _printable(note, _ALLOWED_IN_NOTE, "note")


# The API's types (a 422 naming the field); `TrialNotes.annotate` checks the same again for
# callers of the service itself (a 400).
Note = Annotated[
    str | None, StringConstraints(max_length=MAX_NOTE_LENGTH), AfterValidator(_check_note)
]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG_LENGTH),
    AfterValidator(_check_tag),
]


class TrialNotes:
    """Reads and changes the annotations of trials."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def annotate(
        self,
        trial_id: int,
        *,
        note: str | None = None,
        tags: list[str] | None = None,
        set_note: bool = False,
    ) -> TrialView:
        """Set the note (when `set_note`: None or "" clears it) and the tags (when not None:
        [] clears them) of one trial, in any state."""
        if set_note and note is not None:
            if len(note) > MAX_NOTE_LENGTH:
                raise ValidationError(
                    f"note is {len(note)} characters long: use at most {MAX_NOTE_LENGTH}"
                )
            try:
                _printable(note, _ALLOWED_IN_NOTE, "note")
            except ValueError as e:
                raise ValidationError(str(e)) from e
        if tags is not None and len(tags) > MAX_TAGS:
            raise ValidationError(f"{len(tags)} tags: use at most {MAX_TAGS}")
        with self.db.transaction() as session:
            trial = repo.lock_trial(session, trial_id)
            if set_note:
                trial.note = note or None
            if tags is not None:
                trial.tags = list(dict.fromkeys(tags)) or None
            session.flush()
            return TrialView.of(trial)
