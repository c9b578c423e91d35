"""The access log's query-string redaction (api/access_log.py): secret-looking keys lose their
values, the rest of the line stays as uvicorn wrote it. The real server's log is checked in
tests/e2e/test_serve_access.py."""

from __future__ import annotations

import logging

import pytest

from api.access_log import RedactSecrets, redact_query, uvicorn_log_config


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/api/v1/studies?token=abc", "/api/v1/studies?token=REDACTED"),
        ("/x?k=10&access_token=s3&state=failed", "/x?k=10&access_token=REDACTED&state=failed"),
        ("/x?API_KEY=1&apikey=2", "/x?API_KEY=REDACTED&apikey=REDACTED"),
        ("/x?Client_Secret=3&password=p", "/x?Client_Secret=REDACTED&password=REDACTED"),
        ("/x?passwd=q&auth=r&session=s", "/x?passwd=REDACTED&auth=REDACTED&session=REDACTED"),
        ("/x?my%5Ftoken=abc", "/x?my%5Ftoken=REDACTED"),  # an encoded key is still seen
        ("/x?token=a=b&token=c", "/x?token=REDACTED&token=REDACTED"),
        ("/x?token", "/x?token"),  # no value to hide
        ("/api/v1/studies/3/leaderboard?k=10", "/api/v1/studies/3/leaderboard?k=10"),
        ("/api/v1/studies", "/api/v1/studies"),
    ],
)  # fmt: skip
def test_secret_looking_query_values_are_redacted(target: str, expected: str) -> None:
    assert redact_query(target) == expected


def test_the_filter_rewrites_uvicorns_access_record() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/studies?token=abc&limit=5", "1.1", 401), None,
    )  # fmt: skip
    assert RedactSecrets().filter(record) is True
    assert record.getMessage() == (
        '127.0.0.1:5000 - "GET /api/v1/studies?token=REDACTED&limit=5 HTTP/1.1" 401'
    )


def test_hpo_serve_puts_the_filter_on_uvicorns_access_handler() -> None:
    config = uvicorn_log_config()
    assert "redact_secrets" in config["handlers"]["access"]["filters"]
    assert config["filters"]["redact_secrets"]["()"] is RedactSecrets
    from uvicorn.config import LOGGING_CONFIG

    assert "filters" not in LOGGING_CONFIG["handlers"]["access"]  # uvicorn's own left alone
