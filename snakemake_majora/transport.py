"""HTTP sessions whose requests have a total deadline, not just a timeout per socket read.

requests' read timeout bounds each ``recv``: a server (or a middlebox) that sends one byte every few
seconds holds a request for ever, and on the token endpoint that holds the refresh lock. Here every
request made inside :func:`total_deadline` is watched by one shared watchdog thread; when the deadline
passes, the request's socket is shut down, the blocked read returns, and the caller gets
:class:`DeadlineExceeded` (a ``requests.ReadTimeout``: the request may have been processed).

Only sessions from :func:`new_session` (or with :class:`DeadlineAdapter` mounted) can be interrupted;
with any other session the deadline is still reported afterwards, but cannot cut a request short.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class DeadlineExceeded(requests.exceptions.ReadTimeout):
    """The whole request (connect, send, headers, body) took longer than its deadline."""


class _Watch:
    """One request under watch: the connection it uses, and whether the deadline struck."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.when = time.monotonic() + seconds
        self.sock: socket.socket | None = None
        self.expired = False
        self.done = False
        self._mu = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` (the request has been sent; the answer is about to be read)."""
        with self._mu:
            self.sock = sock
            expired = self.expired
        if expired:
            _cut(sock)

    def fire(self) -> None:
        with self._mu:
            if self.done:
                return
            self.expired = True
            sock = self.sock
        _cut(sock)


def _cut(sock: socket.socket | None) -> None:
    # shutdown (not close) wakes a thread blocked in recv on this socket; the pool then discards it.
    # The socket itself is kept, not the connection: http.client drops conn.sock when the server says
    # "Connection: close", while the response goes on reading from the same socket.
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread firing expired watches (a heap), instead of a timer thread per request."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._pid = 0

    def add(self, watch: _Watch) -> None:
        with self._cv:
            if self._pid != os.getpid():  # first use, or a forked child: threads do not survive fork
                self._pid = os.getpid()
                self._heap = []
                threading.Thread(target=self._run, name="majora-deadline", daemon=True).start()
            heapq.heappush(self._heap, (watch.when, next(self._seq), watch))
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._heap and self._heap[0][2].done:  # finished requests leave lazily
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cv.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                watch = heapq.heappop(self._heap)[2]
            watch.fire()


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def total_deadline(seconds: float) -> Iterator[None]:
    """Requests made by this thread inside the block must finish (body read) within ``seconds``."""
    watch = _Watch(max(0.001, seconds))
    outer = getattr(_local, "watch", None)
    _local.watch = watch
    _WATCHDOG.add(watch)
    try:
        yield
    except requests.RequestException as exc:
        if watch.expired or time.monotonic() >= watch.when:
            raise DeadlineExceeded(f"no complete answer within {seconds:g}s") from exc
        raise
    finally:
        with watch._mu:
            watch.done = True
        _local.watch = outer
    if watch.expired:
        # A cut can also look like a short but complete answer (headers ended by the shutdown, no
        # Content-Length): whatever was read is not trusted.
        raise DeadlineExceeded(f"no complete answer within {seconds:g}s")


class _WatchedMixin:
    sock: socket.socket | None

    def send(self, data: Any) -> Any:
        # A large body on a slow link is cut too: the socket is watched from the first byte sent.
        watch = getattr(_local, "watch", None)
        if watch is not None and watch.sock is not self.sock:
            watch.attach(self.sock)
        return super().send(data)  # type: ignore[misc]

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        watch = getattr(_local, "watch", None)
        if watch is not None:
            watch.attach(self.sock)  # cut at once if the deadline passed while connecting or sending
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections can be cut by :func:`total_deadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def new_session(pool_maxsize: int = 10, user_agent: str | None = None) -> requests.Session:
    """A requests session with :class:`DeadlineAdapter` mounted and no automatic retries."""
    session = requests.Session()
    adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if user_agent:
        session.headers["User-Agent"] = user_agent
    return session
