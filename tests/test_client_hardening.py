"""Issue 12 items 4, 7 and 8: a lost one-time task result, redirects on token-endpoint calls, and a total
deadline per request. Tiny real servers on 127.0.0.1 play the misbehaving parts (a 307 redirector and a
server that trickles bytes); the lost task reply comes from majora-lite's commit-then-drop fault."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable

import pytest

from snakemake_majora import oauth
from snakemake_majora.client import MajoraClient
from snakemake_majora.config import Settings, load_settings
from snakemake_majora.errors import MajoraError, ServerError, TemporaryError
from snakemake_majora.transport import new_session

SECRET = "client-secret-do-not-forward-1234"


class TinyServer:
    """A one-purpose HTTP/1.1 server on 127.0.0.1: ``handle(conn, request_bytes)`` answers each request."""

    def __init__(self, handle: Callable[[socket.socket, bytes], None]) -> None:
        self.handle = handle
        self.requests: list[bytes] = []
        self.aborted = 0  # answers the client hung up on before they were complete
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + body)
            try:
                self.handle(conn, data)
            except OSError:
                self.aborted += 1

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def _settings(domain: str, **kw) -> Settings:
    return Settings(domain=domain, user="alice", client_id="cid-1", client_secret=SECRET, **kw)


# -- item 7: redirects ------------------------------------------------------------------------------------
@pytest.fixture
def redirect_pair():
    """``elsewhere`` records what it receives; ``front`` answers every request 307 to ``elsewhere``."""
    elsewhere = TinyServer(lambda c, _d: c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                                   b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"))

    def redirect(conn, data):
        path = data.split(b" ")[1].decode()
        loc = elsewhere.url.rstrip("/") + path
        conn.sendall(f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {loc}\r\nContent-Length: 0\r\n"
                     f"Connection: close\r\n\r\n".encode())

    front = TinyServer(redirect)
    yield front, elsewhere
    front.close()
    elsewhere.close()


def test_code_exchange_does_not_follow_a_redirect(redirect_pair):
    front, elsewhere = redirect_pair
    with pytest.raises(MajoraError) as err:
        oauth.exchange_code(_settings(front.url), "one-time-code-5678")
    msg = str(err.value)
    assert isinstance(err.value, ServerError) and "307" in msg and "not following" in msg
    assert len(front.requests) == 1 and elsewhere.requests == []
    assert SECRET not in str(err.value) and "one-time-code-5678" not in str(err.value)


def test_revoke_does_not_follow_a_redirect(redirect_pair):
    front, elsewhere = redirect_pair
    with pytest.raises(ServerError):
        oauth.revoke(_settings(front.url), new_session(), "refresh-token-abcdef", "refresh_token")
    assert len(front.requests) == 1 and elsewhere.requests == []


# -- item 8: total deadline -----------------------------------------------------------------------------
TOKEN = json.dumps({"access_token": "a" * 30, "refresh_token": "r" * 30, "expires_in": 36000,
                    "token_type": "Bearer", "scope": ""}).encode()


def _drip_body(conn, _data):
    """Headers at once, then the body one byte every 0.25 s: each read is quick, the whole is ~30 s."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(TOKEN)).encode() + b"\r\nConnection: close\r\n\r\n")
    for i in range(len(TOKEN)):
        conn.sendall(TOKEN[i:i + 1])
        time.sleep(0.25)


def _drip_headers(conn, _data):
    """The status line, then header bytes one every 0.25 s (a padding header ~30 s long)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: ")
    for _ in range(120):
        conn.sendall(b"a")
        time.sleep(0.25)
    body = b'{"errors": 0, "messages": [], "get": {}}'
    conn.sendall(b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                 + b"\r\nConnection: close\r\n\r\n" + body)


def test_refresh_post_has_a_total_deadline():
    drip = TinyServer(_drip_body)
    try:
        with pytest.raises(oauth.AmbiguousRefreshError) as err:
            oauth.post_refresh_once(_settings(drip.url), new_session(), "rt-" + "x" * 20, deadline=2.0)
    finally:
        drip.close()
    assert "DeadlineExceeded" in str(err.value)
    assert len(drip.requests) == 1


def test_api_call_has_a_total_deadline_while_headers_trickle():
    drip = TinyServer(_drip_headers)
    try:
        settings = load_settings(domain=drip.url, user="alice", api_key="k" * 32, env={},
                                 read_timeout=1.0, request_deadline=2.0)
        with MajoraClient(settings) as client, pytest.raises(TemporaryError) as err:
            client.add_biosamples([{"central_sample_id": "HOOT-00001"}])  # a write: not retried
    finally:
        drip.close()
    assert "DeadlineExceeded" in str(err.value) and "may or may not have been applied" in str(err.value)
    assert len(drip.requests) == 1


def test_refresh_budget_stays_inside_the_lease(majora_home, monkeypatch):
    """Under a lease the whole refresh must end before the lease can be taken over."""
    from snakemake_majora.credentials import CredentialManager

    settings = load_settings(config_file=majora_home.home / "config.yaml", env=majora_home.env,
                             lock="lease", lock_lease_seconds=40)
    mgr = CredentialManager(settings)
    seen = {}
    real = oauth.refresh

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(oauth, "refresh", spy)
    mgr.force_refresh()
    assert 0 < seen["budget"] < settings.lock_lease_seconds


# -- item 4: a lost task/get reply ------------------------------------------------------------------------
def test_lost_task_result_restarts_the_query(majora_home, caplog):
    lite = majora_home.lite
    settings = load_settings(config_file=majora_home.home / "config.yaml", env=majora_home.env,
                             task_timeout=20)
    before = lite.counters()["paths"].get("/api/v2/pag/qc/get/", 0)
    # The first task/get waits until the task has finished, is served (Majora forgets the result), and
    # its reply is dropped on the way back.
    lite.set_faults([{"path": "/api/v2/majora/task/get/", "action": "commit_then_drop", "delay": 2,
                      "count": 1}])
    try:
        with MajoraClient(settings) as client:
            result = client.get_pags("cog-uk-elan-minimal-qc")
    finally:
        lite.clear_faults()
    assert result["count"] > 0
    assert lite.counters()["faults_applied"] >= 1
    assert lite.counters()["paths"].get("/api/v2/pag/qc/get/", 0) - before == 2
    assert "starting pag/qc/get again" in caplog.text


def test_lost_task_result_for_get_task_says_run_the_query_again(majora_home):
    lite = majora_home.lite
    settings = load_settings(config_file=majora_home.home / "config.yaml", env=majora_home.env,
                             task_timeout=20)
    with MajoraClient(settings) as client:
        started = client._request("api/v2/pag/qc/get/", {"test_name": "cog-uk-elan-minimal-qc"})
        lite.set_faults([{"path": "/api/v2/majora/task/get/", "action": "commit_then_drop", "delay": 2,
                          "count": 1}])
        try:
            with pytest.raises(TemporaryError) as err:
                client.wait_task(str(started["tasks"][0]))
        finally:
            lite.clear_faults()
    assert "run the query again" in str(err.value) and "get task" not in str(err.value)

