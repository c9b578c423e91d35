"""Several API URLs (`--api URL1,URL2`): the client moves to the next replica at once when one
does not answer, stays on one that answers (a 4xx included), and waits only once every
replica failed in a row. Real sockets: a port nobody listens on, and small HTTP servers."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hpo.client import ApiError, ApiUnreachable, Client, api_urls
from hpo.outage import Outage

pytestmark = pytest.mark.unit


class _Replica(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        # Counted before the answer goes out: the client may read it (and the test assert
        # the count) before this thread runs another line.
        self.server.hits += 1  # type: ignore[attr-defined]  # our _Server
        body = json.dumps({"detail": "not here"} if self.status >= 400 else {"status": "ok"})
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    hits = 0  # requests answered


def _serve(status: int) -> Iterator[tuple[str, _Server]]:
    handler = type("Handler", (_Replica,), {"status": status})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


@pytest.fixture
def live() -> Iterator[tuple[str, _Server]]:
    yield from _serve(200)


@pytest.fixture
def refusing() -> Iterator[tuple[str, _Server]]:
    yield from _serve(404)


@pytest.fixture
def dead() -> str:
    """A loopback port nobody listens on (bound, then closed): connection refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_api_urls_split_on_commas() -> None:
    assert api_urls(" http://a:1/, http://b:2 ,") == ["http://a:1", "http://b:2"]
    with pytest.raises(ValueError, match="no API URL"):
        api_urls(" , ")


def test_a_dead_replica_costs_a_retry_on_the_next_not_an_outage(
    dead: str, live: tuple[str, _Server]
) -> None:
    url, server = live
    outage = Outage()
    # A backoff of an hour: the test would hang if moving to the next replica waited.
    with Client(f"{dead},{url}", retries=None, backoff_seconds=3600, outage=outage) as client:
        assert client.health() == {"status": "ok"}
        assert client.current_url == url
        assert outage.seconds == 0  # one replica answered: no outage began
        client.health()  # stays on the replica that answers
    assert server.hits == 2


def test_a_4xx_is_an_answer_not_a_reason_to_move(
    refusing: tuple[str, _Server], live: tuple[str, _Server]
) -> None:
    (first, first_server), (second, second_server) = refusing, live
    client = Client(f"{first},{second}", retries=3, backoff_seconds=3600)
    with client, pytest.raises(ApiError) as refused:
        client.health()
    assert refused.value.status == 404
    assert client.current_url == first
    assert (first_server.hits, second_server.hits) == (1, 0)


def test_every_replica_dead_backs_off_then_gives_up(dead: str) -> None:
    other = dead.replace("127.0.0.1", "localhost")
    client = Client(f"{dead},{other}", retries=1, backoff_seconds=0.01)
    with client, pytest.raises(ApiUnreachable, match="failed after 2 attempts"):
        client.health()
