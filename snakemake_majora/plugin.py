"""Snakemake storage plugin for ``majora://`` queries (re-exported by ``snakemake_storage_plugin_majora``).

Read-only. Each concrete query is fetched once per process, concurrently with all other queries noted
when their storage objects were created (:mod:`snakemake_majora.fetch`); ``mtime`` comes from the
ledger (:mod:`snakemake_majora.ledger`) because Majora has no last-modified time; the local copy is the
record's canonical JSON (or TSV) bytes.
Every request goes through :class:`snakemake_majora.client.MajoraClient`, whose token gate refreshes the
shared credential under its lock. See docs/plugin.md.
"""

import atexit
import hashlib
import math
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_storage_plugins.common import Operation
from snakemake_interface_storage_plugins.io import IOCacheStorageInterface, Mtime
from snakemake_interface_storage_plugins.settings import StorageProviderSettingsBase
from snakemake_interface_storage_plugins.storage_object import StorageObjectRead
from snakemake_interface_storage_plugins.storage_provider import (
    ExampleQuery,
    QueryType,
    StorageProviderBase,
    StorageQueryValidationResult,
)

from . import queries
from .fetch import Record, RecordFetcher
from .ledger import Ledger
from .store import atomic_write_private

LEDGER_NAME = ".majora-ledger.json"

# Deliberately no `from __future__ import annotations` here: interface-common reads field types at
# runtime, and ints carry metadata["type"] so that CLI strings are converted under 1.23 and 1.24 (P4).


@dataclass
class StorageProviderSettings(StorageProviderSettingsBase):
    """Settings of the ``majora`` storage provider: only names and paths, never secrets."""

    domain: str | None = field(
        default=None,
        metadata={
            "help": "Majora base URL, e.g. https://majora.covid19.climb.ac.uk/ (default: from the "
            "snakemake-majora profile or MAJORA_DOMAIN).",
            "env_var": True,
        },
    )
    profile: str | None = field(
        default=None,
        metadata={
            "help": "snakemake-majora profile to use (default: the config's default profile).",
            "env_var": True,
        },
    )
    config_file: str | None = field(
        default=None,
        metadata={
            "help": "Path of the snakemake-majora YAML config (default: ~/.config/snakemake-majora/"
            "config.yaml).",
            "env_var": True,
        },
    )
    token_file: str | None = field(
        default=None,
        metadata={
            "help": "Path of the shared OAuth token file written by `snakemake-majora login` (a path, "
            "never the token itself; default: from the profile).",
            "env_var": True,
        },
    )
    min_ttl: int = field(
        default=0,
        metadata={
            "help": "Seconds the access token must stay valid after each check; the token is refreshed "
            "(under the shared lock) when it would expire sooner. 0 uses the client's safety margin.",
            "type": int,
        },
    )
    fetch_concurrency: int = field(
        default=8,
        metadata={
            "help": "How many Majora records one Snakemake process fetches at the same time.",
            "type": int,
        },
    )
    task_deadline: int = field(
        default=1800,
        metadata={
            "help": "Seconds to wait for Majora's asynchronous tasks (PAG and dataview queries) before "
            "giving up.",
            "type": int,
        },
    )
    recheck: str | None = field(
        default="always",
        metadata={
            "help": "When the main process asks Majora again about a record whose local copy the ledger "
            "verifies: 'always' (every invocation, which is how changes are noticed), 'never' (dry runs, "
            "reports and re-runs make no request; missing copies are still fetched), or a maximum age "
            "since Majora last confirmed the content, e.g. 30m, 12h, 7d.",
            "env_var": True,
            "metavar": "always|never|AGE",
        },
    )
    ledger_dir: str | None = field(
        default=None,
        metadata={
            "help": "Directory of the record ledger (first-seen times and last confirmations), e.g. a "
            "cache directory shared by several workflows; locked like the token store (flock, or a "
            "lease on file systems without coherent locks). Default: .snakemake/storage/majora.",
            "env_var": True,
            "metavar": "DIR",
        },
    )


@dataclass(frozen=True)
class ResolvedSettings:
    """Validated plain values of :class:`StorageProviderSettings` (CLI strings and Snakefile kwargs)."""

    domain: str | None
    profile: str | None
    config_file: str | None
    token_file: str | None
    min_ttl: int
    fetch_concurrency: int
    task_deadline: int
    max_requests_per_second: float | None
    recheck_after: float  # seconds; 0 = always ask Majora, inf = never while the local copy verifies
    ledger_dir: str | None


def _number(name: str, value: Any, kind: type, minimum: float, default: Any) -> Any:
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError):
        flag = "--storage-majora-" + name.replace("_", "-")
        raise WorkflowError(
            f"majora storage setting {name}={value!r} is not {'an integer' if kind is int else 'a number'}; "
            f"set {flag} (or {name}= in the storage directive) to a number >= {minimum}."
        ) from None
    if number < minimum:
        raise WorkflowError(f"majora storage setting {name}={value!r} must be >= {minimum}.")
    return number


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_recheck(value: Any) -> float:
    """``always`` -> 0, ``never`` -> inf, ``12h``/``1h30m``/``90s``/``7d``/``2w`` -> seconds.

    Raises a one-line WorkflowError naming the accepted forms.
    """
    text = "always" if value is None else str(value).strip().lower()
    if text in ("", "always"):
        return 0.0
    if text == "never":
        return math.inf
    compact = text.replace(" ", "")
    parts = _DURATION.findall(compact)
    if parts and "".join(n + u for n, u in parts) == compact:
        return float(sum(float(n) * _UNITS[u] for n, u in parts))
    raise WorkflowError(
        f"majora storage setting recheck={value!r} is not 'always', 'never' or a duration; "
        "set --storage-majora-recheck (or recheck= in the storage directive) to e.g. always, never, "
        "30m, 12h or 7d."
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def resolve_settings(settings: StorageProviderSettings | None) -> ResolvedSettings:
    """Validate and coerce settings; raise a one-line WorkflowError naming the bad one."""
    s = settings if settings is not None else StorageProviderSettings()
    return ResolvedSettings(
        domain=_text(s.domain),
        profile=_text(s.profile),
        config_file=_text(s.config_file),
        token_file=_text(s.token_file),
        min_ttl=_number("min_ttl", s.min_ttl, int, 0, 0),
        fetch_concurrency=_number("fetch_concurrency", s.fetch_concurrency, int, 1, 8),
        task_deadline=_number("task_deadline", s.task_deadline, int, 1, 1800),
        max_requests_per_second=_number(
            "max_requests_per_second", s.max_requests_per_second, float, 0.001, None
        ),
        recheck_after=parse_recheck(s.recheck),
        ledger_dir=_text(s.ledger_dir),
    )


def client_from_settings(conf: ResolvedSettings) -> Any:
    """A :class:`MajoraClient` for these settings (reads config; no network until the first call)."""
    from .client import MajoraClient  # lazy: the discovery shim must stay cheap and import-safe

    overrides: dict[str, Any] = {"task_timeout": float(conf.task_deadline)}
    if conf.domain:
        overrides["domain"] = conf.domain
    return MajoraClient.from_config(
        profile=conf.profile,
        config_file=conf.config_file,
        token_file=conf.token_file,
        min_ttl=conf.min_ttl,
        **overrides,
    )


def is_job_process(argv: list[str]) -> bool:
    """True in a process Snakemake spawned to run jobs (``--mode subprocess`` or ``--mode remote``).

    Snakemake does not tell storage providers which kind of process they are in, and storage objects are
    never linked back to the workflow reliably, so the spawned command line is the signal. Anything
    unrecognised counts as the main process, which always asks Majora: the safe side.
    """
    for i, arg in enumerate(argv):
        if arg == "--mode" and i + 1 < len(argv):
            return argv[i + 1] in ("subprocess", "remote")
        if arg.startswith("--mode="):
            return arg.split("=", 1)[1] in ("subprocess", "remote")
    return False


def _explain(err: BaseException, print_query: str, domain: str | None) -> WorkflowError:
    """A one-line WorkflowError for a failed fetch, naming the server (the client says what to do)."""
    where = f" at {domain}" if domain else ""
    return WorkflowError(f"Majora query {print_query} failed{where}: {err}")


class StorageProvider(StorageProviderBase):
    """Provider for ``majora://`` queries. One instance per Snakemake process (and per storage tag)."""

    def __post_init__(self) -> None:
        # Runs in every process that parses the Snakefile: validate only, no network, no config reading.
        self.conf = resolve_settings(self.settings)
        where = Path(self.conf.ledger_dir).expanduser() if self.conf.ledger_dir else Path(self.local_prefix)
        self.ledger = Ledger(where / LEDGER_NAME)
        # Confirmations of unchanged records are written once, when the process ends (losing them only
        # costs a recheck next time).
        atexit.register(self._flush_ledger)
        self.fetcher = RecordFetcher(
            lambda: client_from_settings(self.conf),
            concurrency=self.conf.fetch_concurrency,
            max_requests_per_second=self.conf.max_requests_per_second,
            on_record=lambda query, rec: self.ledger.note(query.canonical, rec.digest),
        )
        self._lock = threading.Lock()
        self._pending: list[tuple[queries.Query, Path]] = []  # created, not yet submitted
        self._local: dict[str, Record] = {}  # verified local copies used without asking Majora
        self._job_process = is_job_process(sys.argv)

    # -- fetching: what the storage objects call ------------------------------------------------------

    def want(self, query: queries.Query, local_path: Path) -> None:
        """Note a concrete query; it is fetched (with all others noted) when Snakemake first asks."""
        with self._lock:
            self._pending.append((query, local_path))

    def record(self, query: queries.Query, local_path: Path) -> Record | None:
        """The record for ``query`` (None: Majora has none). One request per record and process.

        In a job process (``run:`` subprocess, cluster job) a local copy that the main process wrote and
        that matches the ledger is used as is: the main process checked the record when it scheduled the
        job, so the job does not ask Majora again. In the main process every record is fetched (which is
        how changes are noticed) unless ``recheck`` lets a verified local copy stand: ``never``, or a
        maximum age that the ledger's last confirmation from Majora is still within.
        """
        local = self._trusted_local(query, local_path)
        if local is not None:
            return local
        self._submit_pending()
        return self.fetcher.get(query)

    def _trusted_local(self, query: queries.Query, path: Path) -> Record | None:
        """The verified local copy if this process may use it without asking Majora, else None."""
        if self._job_process:
            return self._verified_local(query, path)
        if self.conf.recheck_after <= 0:
            return None
        return self._verified_local(query, path, fresh_since=time.time() - self.conf.recheck_after)

    def _flush_ledger(self) -> None:
        try:
            self.ledger.flush()
        except Exception as exc:  # at exit: say it, never turn a finished run into a traceback
            print(f"majora: could not record confirmations in the ledger {self.ledger.path}: {exc}",
                  file=sys.stderr)

    def _verified_local(
        self, query: queries.Query, path: Path, fresh_since: float | None = None
    ) -> Record | None:
        key = query.canonical
        with self._lock:
            if key in self._local:
                return self._local[key]
        entry = self.ledger.lookup(key)
        if entry is None:
            return None
        if fresh_since is not None and fresh_since > -math.inf and not self.ledger.checked_since(
            key, entry[0], fresh_since
        ):
            return None
        try:
            body = Path(path).read_bytes()
        except OSError:
            return None
        digest = hashlib.sha256(body).hexdigest()
        if digest != entry[0]:
            return None
        rec = Record(body, digest)
        with self._lock:
            self._local[key] = rec
        return rec

    def mtime_of(self, query: queries.Query, rec: Record) -> float:
        """First-seen time of this content (see :mod:`snakemake_majora.ledger`)."""
        known = self.ledger.known(query.canonical, rec.digest)
        if known is not None:
            return known
        # New content must be written to the ledger. Fetches in flight note their records as they
        # arrive, so waiting for them first turns a thousand new records into one ledger write.
        self.fetcher.wait_all()
        return self.ledger.first_seen(query.canonical, rec.digest)

    def _submit_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for query, path in pending:
            if self._trusted_local(query, path) is not None:
                continue
            self.fetcher.submit(query)

    @classmethod
    def example_queries(cls) -> list[ExampleQuery]:
        """Example queries for Snakemake's plugin catalogue and tests."""
        return [
            ExampleQuery("majora://biosample/HOOT-00001", "A biosample as canonical JSON.", QueryType.INPUT),
            ExampleQuery("majora://sequencing/20200601_RUN", "A sequencing run as JSON.", QueryType.INPUT),
            ExampleQuery("majora://dataview/PHE1.tsv", "A Majora dataview as a TSV table.", QueryType.INPUT),
            ExampleQuery(
                "majora://pag/cog-uk-elan-minimal-qc?pass=true&published_after=2021-01-01",
                "Published artifact groups passing a QC test, published after a date (JSON).",
                QueryType.INPUT,
            ),
            ExampleQuery(
                "majora://summary?gte_date=2021-01-01", "Majora's sequencing summary.", QueryType.INPUT
            ),
        ]

    def rate_limiter_key(self, query: str, operation: Operation) -> Any:
        """One key for all queries: they all go to the same server."""
        return "majora"

    def default_max_requests_per_second(self) -> float:
        """Only used if Snakemake's own limiter were on; ours applies to real HTTP requests."""
        return 50.0

    def use_rate_limiter(self) -> bool:
        # Snakemake's limiter wraps every exists/size/mtime call, which here are memoised lookups;
        # throttling those would slow big workflows for nothing. max_requests_per_second is applied to
        # the real HTTP requests in the fetcher instead.
        return False

    @classmethod
    def is_valid_query(cls, query: str) -> StorageQueryValidationResult:
        """Accept the documented majora:// forms (wildcards allowed); never raises."""
        reason = queries.validate(query)
        return StorageQueryValidationResult(query=query, valid=reason is None, reason=reason)

    def postprocess_query(self, query: str) -> str:
        """Canonical spelling (sorted, normalised filters) for concrete valid queries."""
        return queries.canonicalise(query)

    def safe_print(self, query: str) -> str:
        """Queries carry no secrets (credentials live in the token file), so print them as they are."""
        return query


class StorageObject(StorageObjectRead):
    """One ``majora://`` query. A concrete query is noted when created and fetched with all others noted
    so far on the first question; the answer is cached on the object and in the provider."""

    def __post_init__(self) -> None:
        self._parsed: queries.Query | None = None
        if not queries.has_wildcards(self.query) and queries.validate(self.query) is None:
            self._parsed = queries.parse(self.query)
            # Snakemake creates all objects of a DAG level before it asks about any of them, and then
            # asks one by one; the first question starts the fetches of every object noted so far, which
            # is what makes N records arrive in parallel.
            self.provider.want(self._parsed, self.local_path())

    # -- helpers -------------------------------------------------------------------------------------

    @property
    def parsed(self) -> queries.Query:
        if self._parsed is None:
            raise WorkflowError(queries.validate(self.query) or f"query {self.query} still has wildcards")
        return self._parsed

    def _record(self) -> Record | None:
        """The memoised record (None: Majora has no such record). Errors become WorkflowError."""
        resolved = self.__dict__.get("_resolved")
        if resolved is not None:
            return resolved[0]
        from .errors import MajoraError

        try:
            return self._fetch()
        except MajoraError as e:
            raise _explain(e, self.print_query, self.provider.fetcher.domain) from None

    def _fetch(self) -> Record | None:
        # Snakemake's scheduler asks exists/size of every pending job's inputs on every round (hundreds
        # of thousands of calls for 1,000 inputs), so the answer is also cached on the object itself.
        resolved = self.__dict__.get("_resolved")
        if resolved is None:
            resolved = self._resolved = (self.provider.record(self.parsed, Path(self.local_path())),)
        return resolved[0]

    def _existing(self) -> Record:
        rec = self._record()
        if rec is None:
            raise FileNotFoundError(f"{self.print_query} does not exist on Majora")
        return rec

    def _mtime(self, rec: Record) -> float:
        cached = self.__dict__.get("_mtime_of")
        if cached is None or cached[0] != rec.digest:
            cached = self._mtime_of = (rec.digest, self.provider.mtime_of(self.parsed, rec))
        return cached[1]

    # -- StorageObjectRead ---------------------------------------------------------------------------

    def local_suffix(self) -> str:
        """``<kind>/<id>.json`` etc.; for wildcard queries the same with the wildcards left in."""
        suffix = self._parsed.local_suffix if self._parsed is not None else queries.pattern_suffix(self.query)
        # Snakemake writes, and later deletes, whatever file this names: it must stay inside the storage
        # prefix whatever the query says (validation already refuses '/' and '..' in values; this is the
        # second fence).
        if os.path.isabs(suffix) or os.path.normpath(suffix).split(os.sep)[0] == "..":
            raise WorkflowError(f"majora query {self.query} would be stored outside .snakemake/storage; "
                                "use letters, digits and '._+-' in identifiers and filter values.")
        return suffix

    async def inventory(self, cache: IOCacheStorageInterface) -> None:
        """Fill Snakemake's IO cache from the (single) fetch of this record."""
        from .errors import MajoraError

        if self._parsed is None:
            return
        try:
            rec = self._fetch()
        except MajoraError:
            return  # exists() re-raises the memoised error with Snakemake's context
        key = self.cache_key()
        cache.exists_in_storage[key] = rec is not None
        if rec is not None:
            cache.mtime[key] = Mtime(storage=self._mtime(rec))
            cache.size[key] = len(rec.body)
            cache.checksum[key] = rec.checksum

    def get_inventory_parent(self) -> str | None:
        return None

    def cleanup(self) -> None:
        """Nothing beyond the local copy, which Snakemake deletes itself."""

    def exists(self) -> bool:
        return self._record() is not None

    def mtime(self) -> float:
        """First time the current content was seen (Majora has no last-modified time)."""
        return self._mtime(self._existing())

    def size(self) -> int:
        return len(self._existing().body)

    def checksum(self) -> str | None:
        """``sha256:<hex>`` of the canonical local bytes."""
        return self._existing().checksum

    def retrieve_object(self) -> None:
        """Write the canonical bytes atomically to ``local_path()`` with the record's mtime."""
        rec = self._record()
        if rec is None:
            raise WorkflowError(f"{self.print_query} does not exist on Majora.")
        # Majora records are access-controlled data: the copy is created 0666 minus the user's umask (a
        # group-private umask keeps it group-private), never widened afterwards. Its mtime is the
        # record's (local == storage mtime: Snakemake re-downloads only when the record really changed).
        atomic_write_private(Path(self.local_path()), rec.body, 0o666, mtime=self._mtime(rec))
