"""A study named on the command line by its id (`3`) or by its name (`mlp-mnist1d`, the
newest study of that name), so a quick start works on a machine that has run hpo before."""

from __future__ import annotations

from hpo.client import Client
from hpo.errors import ValidationError

# Studies listed per request while looking a name up (the API's largest page).
_PAGE = 1000


def resolve_study(client: Client, ref: str) -> int:
    """The study id that `ref` names: an integer is an id, anything else the name of the
    newest study called so (the API lists studies newest first)."""
    text = ref.strip()
    if text.isdigit():
        return int(text)
    offset = 0
    while True:
        page = client.request(
            "GET", "/api/v1/studies", params={"offset": offset, "limit": _PAGE}
        ).json()
        for study in page:
            if study["name"] == text:
                return int(study["id"])
        if len(page) < _PAGE:
            break
        offset += _PAGE
    raise ValidationError(f"no study named {text!r}: give its id or name (see `hpo study list`)")
