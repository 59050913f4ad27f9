"""Fetch each Majora record at most once per process, many at a time.

Snakemake asks a storage object for ``exists``/``size``/``mtime``/``checksum`` many times, in every
process that parses the workflow, and retrieves objects one after another. The storage plugin therefore
submits every concrete query it has seen as soon as Snakemake asks about any of them; a bounded thread
pool fetches the records concurrently (over the client's keep-alive session), and every later question
about the query waits on the same memoised future.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .queries import Query
from .records import canonical_json, canonical_tsv, table_rows


@dataclass(frozen=True)
class Record:
    """The canonical local bytes of one query's result and their sha256; a large listing's bytes are in
    the file ``path`` instead of ``body`` (written while the answer was parsed, see ``spool``)."""

    body: bytes
    digest: str  # hex sha256 of the bytes
    path: str | None = None
    length: int = 0  # the size of the file at ``path``

    @property
    def checksum(self) -> str:
        """Snakemake's ``algorithm:hex`` form."""
        return f"sha256:{self.digest}"

    @property
    def size(self) -> int:
        return self.length if self.path is not None else len(self.body)

    def write_to(self, fh: BinaryIO) -> None:
        """Copy the bytes to an open binary file (a file-backed record in chunks)."""
        if self.path is None:
            fh.write(self.body)
            return
        with open(self.path, "rb") as src:
            shutil.copyfileobj(src, fh, 1 << 20)


def render(query: Query, payload: Any) -> Record:
    """Turn a client payload into the canonical bytes of the local file."""
    body = canonical_tsv(table_rows(query.kind, payload)) if query.table else canonical_json(payload)
    return Record(body, hashlib.sha256(body).hexdigest())


def render_spooled(query: Query, answer: dict[str, Any], spool_dir: Path) -> Record:
    """The canonical local bytes of a spooled task answer, written to a file in ``spool_dir`` item by
    item (the listing is never held whole; every run's is sorted by name through a scratch file)."""
    from .spool import write_canonical  # lazy: ijson only where listings are fetched

    spool_dir.mkdir(parents=True, exist_ok=True)
    dest = spool_dir / f"{hashlib.sha256(query.canonical.encode()).hexdigest()[:16]}.{os.getpid()}." \
                       f"{secrets.token_hex(4)}"
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            digest, size = write_canonical(Path(answer["spooled"]), query.kind, query.table, fh,
                                           answer.get("get"))
    except BaseException as exc:
        dest.unlink(missing_ok=True)
        import ijson

        from .errors import ServerError

        if isinstance(exc, ijson.JSONError):
            raise ServerError(f"the task answer for {query.canonical} in {answer['spooled']} is not the JSON "
                              f"Majora sends ({exc}); run the query again") from None
        raise
    return Record(b"", digest, str(dest), size)


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "true"


def call_client(client: Any, query: Query, spool: bool = False) -> Any:
    """Ask Majora for ``query`` through the client; None if the record does not exist. ``spool``: a large
    listing (PAGs, dataview, every run) comes back as its spooled task answer (``{"spooled": file, ...}``,
    see :func:`snakemake_majora.client.spooled_file`)."""
    from .errors import NotFoundError  # lazy: keeps the discovery shim import cheap

    try:
        if query.kind == "biosample":
            return client.get_biosample(query.key)
        if query.kind == "sequencing" and not query.key:  # every run: Majora's '*'
            return client.get_sequencing(["*"], spool=spool)
        if query.kind == "sequencing":
            runs = client.get_sequencing([query.key])
            return runs.get(query.key) if isinstance(runs, dict) else None
        if query.kind == "dataview":
            return client.get_dataview(query.key, spool=True) if spool else client.get_dataview(query.key)
        if query.kind == "pag":
            p = query.param
            return client.get_pags(
                query.key,
                pass_=_flag(p("pass")),
                fail=_flag(p("fail")),
                public=_flag(p("public")),
                private=_flag(p("private")),
                service_name=p("service_name"),
                published_after=p("published_after"),
                published_before=p("published_before"),
                suppressed_after=p("suppressed_after"),
                mode=p("mode"),
                **({"spool": True} if spool else {}),
            )
        return client.get_summary(gte_date=query.param("gte_date"))
    except NotFoundError:
        return None


class _RateLimiter:
    """Spaces request starts at least ``1/rate`` seconds apart across threads (None: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


class RecordFetcher:
    """Memoised, concurrent fetching of records by canonical query.

    ``client_factory`` is called once, lazily, in a worker thread, so creating a fetcher (which happens
    in every Snakemake process that parses the workflow) reads no config and opens no connection.
    """

    def __init__(
        self,
        client_factory: Callable[[], Any],
        *,
        concurrency: int = 8,
        max_requests_per_second: float | None = None,
        on_record: Callable[[Query, Record], None] | None = None,
        spool_dir: Path | None = None,
    ) -> None:
        self._client_factory = client_factory
        # Where large listings are written while parsed (None: parsed in memory, as small answers are).
        self.spool_dir = spool_dir
        self._on_record = on_record
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="majora-fetch")
        self._futures: dict[str, Future[Record | None]] = {}
        self._lock = threading.Lock()
        self._limiter = _RateLimiter(max_requests_per_second)
        self.requests = 0  # records actually requested from Majora by this process
        self.domain: str | None = None  # the server, once the client exists (for error messages)

    def client(self) -> Any:
        """The shared client, created on first use."""
        with self._client_lock:
            if self._client is None:
                self._client = self._client_factory()
                self.domain = getattr(getattr(self._client, "settings", None), "domain", None)
            return self._client

    def _fetch(self, query: Query) -> Record | None:
        client = self.client()
        self._limiter.wait()
        with self._lock:
            self.requests += 1
        payload = call_client(client, query, spool=self.spool_dir is not None)
        if payload is None:
            return None
        from .client import spooled_file  # lazy: the client is loaded by now, the shim stays cheap

        if spooled_file(payload) is not None and self.spool_dir is not None:
            rec = render_spooled(query, payload, self.spool_dir)
        else:
            rec = render(query, payload)
        if self._on_record is not None:
            self._on_record(query, rec)
        return rec

    def submit(self, query: Query) -> Future[Record | None]:
        """Start fetching ``query`` unless it already is; return its (shared) future."""
        key = query.canonical
        with self._lock:
            fut = self._futures.get(key)
            if fut is None:
                fut = self._pool.submit(self._fetch, query)
                self._futures[key] = fut
            return fut

    def get(self, query: Query) -> Record | None:
        """The record for ``query`` (None if Majora has no such record); re-raises fetch errors."""
        return self.submit(query).result()

    def wait_all(self) -> None:
        """Wait until every fetch submitted so far has finished (successfully or not)."""
        with self._lock:
            futures = list(self._futures.values())
        wait(futures)

    def shutdown(self) -> None:
        """Stop the worker threads (pending fetches are cancelled)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
