"""Snakemake storage plugin for ``majora://`` queries (re-exported by ``snakemake_storage_plugin_majora``).

Read-only. Each concrete query is fetched once per process, concurrently with all other queries noted
when their storage objects were created (:mod:`snakemake_majora.fetch`); ``mtime`` comes from the
ledger (:mod:`snakemake_majora.ledger`) because Majora has no last-modified time; the local copy is the
record's canonical JSON (or TSV) bytes.
Every request goes through :class:`snakemake_majora.client.MajoraClient`, whose token gate refreshes the
shared credential under its lock. See docs/plugin.md.
"""

import atexit
import dataclasses
import difflib
import hashlib
import math
import os
import re
import sys
import threading
import time
import weakref
from concurrent.futures import Future, wait
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
from .store import atomic_write_with
from .unchecked import Failure, OfflineUse, RunStopped, stop_run

LEDGER_NAME = ".majora-ledger.json"
SPOOL_NAME = ".majora-spool"
#: A verified local copy at least this large is used from its file rather than read into memory.
LARGE_LOCAL = 1 << 20

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
    ledger_lock_timeout: int = field(
        default=60,
        metadata={
            "help": "Seconds to wait for the ledger's lock held by another process before stopping the "
            "run with a message naming the holder.",
            "type": int,
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
    recheck: str = "always"  # as written, for messages
    ledger_lock_timeout: int = 60


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


#: Keywords of the ``storage:`` directive that Snakemake itself handles for every provider.
_GENERIC_KEYWORDS = ("keep_local", "retrieve")
_ENV_PREFIX = "SNAKEMAKE_STORAGE_MAJORA_"


def allowed_settings() -> list[str]:
    """Every keyword the ``storage:`` directive (and ``--storage-majora-*``) accepts for majora."""
    return sorted({f.name for f in dataclasses.fields(StorageProviderSettings)} | set(_GENERIC_KEYWORDS))


def _unknown(name: str, allowed: list[str], where: str) -> WorkflowError:
    near = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]}? " if near else ""
    return WorkflowError(f"unknown majora storage setting {name!r} {where}; {hint}the allowed ones are "
                         f"{', '.join(allowed)}.")


def check_known(settings: StorageProviderSettings, environ: dict[str, str] | None = None) -> None:
    """Refuse keywords the provider does not define: Snakemake copies any keyword of the ``storage:``
    directive into the settings object, so a typo (``recheck_after="12h"``) would otherwise do nothing."""
    allowed = allowed_settings()
    for name in sorted(vars(settings)):
        if name not in allowed and not name.startswith("_"):
            raise _unknown(name, allowed, "in the storage directive")
    env = os.environ if environ is None else environ
    env_names = {f.name.upper(): f.name for f in dataclasses.fields(StorageProviderSettings)}
    for var in sorted(env):
        if var.startswith(_ENV_PREFIX) and var[len(_ENV_PREFIX):] not in env_names:
            raise _unknown(var[len(_ENV_PREFIX):].lower(), allowed, f"(environment variable {var})")


def resolve_settings(settings: StorageProviderSettings | None) -> ResolvedSettings:
    """Validate and coerce settings; raise a one-line WorkflowError naming the bad one."""
    s = settings if settings is not None else StorageProviderSettings()
    check_known(s)
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
        recheck=_text(s.recheck) or "always",
        ledger_lock_timeout=_number("ledger_lock_timeout", s.ledger_lock_timeout, int, 1, 60),
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


def is_snakemake_main(argv: list[str]) -> bool:
    """True in the main process of a ``snakemake`` command (``snakemake ...`` or ``python -m snakemake``).

    Only there may the plugin end the run itself (:mod:`snakemake_majora.unchecked`); a library user (the
    Python API, the storage interface's test suite) keeps the storage API's contract: ``exists()`` is
    False for a record Majora does not have, and failures are WorkflowErrors.
    """
    if not argv or is_job_process(argv):
        return False
    prog = Path(argv[0])
    return prog.name in ("snakemake", "snakemake.exe") or (
        prog.name == "__main__.py" and prog.parent.name == "snakemake"
    )


_live: "weakref.WeakSet[StorageProvider]" = weakref.WeakSet()


def live_providers() -> list["StorageProvider"]:
    """The majora providers of this process (``preflight()`` reads the run's ``recheck`` from them)."""
    return list(_live)


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
        self.ledger = Ledger(where / LEDGER_NAME, lock_timeout=float(self.conf.ledger_lock_timeout),
                             shared=self.conf.ledger_dir is not None)
        # Confirmations of unchanged records are written once, when the process ends (losing them only
        # costs a recheck next time).
        atexit.register(self._flush_ledger)
        self.fetcher = RecordFetcher(
            lambda: client_from_settings(self.conf),
            concurrency=self.conf.fetch_concurrency,
            max_requests_per_second=self.conf.max_requests_per_second,
            on_record=lambda query, rec: self.ledger.note(query.canonical, rec.digest),
            # Large listings are written here while parsed; this process's files go when it ends.
            spool_dir=Path(self.local_prefix) / SPOOL_NAME,
        )
        atexit.register(self._clean_spool)
        self._lock = threading.Lock()
        self._pending: list[tuple[queries.Query, Path]] = []  # created, not yet submitted
        self._local: dict[str, Record] = {}  # verified local copies used without asking Majora
        self._job_process = is_job_process(sys.argv)
        self._stops_run = is_snakemake_main(sys.argv)
        # The main process's account of its inputs, so that a run never succeeds on inputs it could not
        # check (see snakemake_majora.unchecked): every concrete query noted, every fetch started, and
        # the RunStopped once the run has been stopped.
        self._noted: dict[str, queries.Query] = {}
        self._futures: dict[str, Future[Record | None]] = {}
        self._stopped: RunStopped | None = None
        self.offline = OfflineUse()
        if not self._job_process:
            atexit.register(self._say_offline)
        _live.add(self)

    # -- fetching: what the storage objects call ------------------------------------------------------

    def want(self, query: queries.Query, local_path: Path) -> None:
        """Note a concrete query; it is fetched (with all others noted) when Snakemake first asks."""
        with self._lock:
            self._pending.append((query, local_path))
            self._noted.setdefault(query.canonical, query)

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
        return self._submit(query).result()

    def _submit(self, query: queries.Query) -> Future[Record | None]:
        fut = self.fetcher.submit(query)
        with self._lock:
            self._noted.setdefault(query.canonical, query)
            self._futures[query.canonical] = fut
        return fut

    @property
    def in_main_process(self) -> bool:
        return not self._job_process

    @property
    def stops_run(self) -> bool:
        """True if an input that cannot be confirmed ends the run here (a ``snakemake`` main process)."""
        return self._stops_run

    def requests_needed(self) -> bool:
        """True once this process has asked (or had to ask) Majora about an input."""
        with self._lock:
            return bool(self._futures) or any(
                key not in self._local for key in self._noted
            ) or self.fetcher.requests > 0

    def stop(self, query: str, err: Any) -> RunStopped:
        """End the run (main process): ``query`` could not be confirmed (``err`` None: Majora has no such
        record). Counts every input of the run noted so far that is not confirmed, prints one line and
        returns the :class:`RunStopped` to raise (the same one on every later call)."""
        with self._lock:
            if self._stopped is not None:
                return self._stopped
        # Fetches already running finish and count; those not started yet are dropped.
        self.fetcher.shutdown()
        with self._lock:
            noted, futures, local = dict(self._noted), dict(self._futures), set(self._local)
        wait(list(futures.values()))
        failures = [Failure(self._name(query), err)]
        unchecked = 0
        for key in noted:
            if key in local:
                continue
            fut = futures.get(key)
            if fut is not None and not fut.cancelled():
                exc = fut.exception()
                if exc is None and fut.result() is not None:
                    continue
                if key != query:
                    failures.append(Failure(self._name(key), exc))
            unchecked += 1
        stopped = stop_run(failures, max(unchecked, 1), offline=self.conf.recheck_after == math.inf)
        with self._lock:
            self._stopped = stopped
        return stopped

    def _name(self, key: str) -> str:
        """The query, and why a re-run that trusts local copies still had to ask Majora about it."""
        if self._job_process or self.conf.recheck_after <= 0:
            return key
        if self.conf.recheck_after == math.inf:
            return f"{key} (no local copy that the ledger verifies)"
        return f"{key} (no verified local copy confirmed within recheck {self.conf.recheck})"

    def _say_offline(self) -> None:
        line = self.offline.summary(self.conf.recheck)
        if line and self._stopped is None:
            print(line, file=sys.stderr, flush=True)

    def _trusted_local(self, query: queries.Query, path: Path) -> Record | None:
        """The verified local copy if this process may use it without asking Majora, else None."""
        if self._job_process:
            return self._verified_local(query, path)
        if self.conf.recheck_after <= 0:
            return None
        rec = self._verified_local(query, path, fresh_since=time.time() - self.conf.recheck_after)
        if rec is not None:
            self.offline.add(query.canonical, self.ledger.checked(query.canonical) or 0.0)
        return rec

    def _clean_spool(self) -> None:
        spool_dir = self.fetcher.spool_dir
        if spool_dir is None:
            return
        for f in spool_dir.glob(f"*.{os.getpid()}.*"):
            f.unlink(missing_ok=True)

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
            size = Path(path).stat().st_size
            if size >= LARGE_LOCAL:  # a large listing: hashed in chunks and used from the file itself
                with open(path, "rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
                rec = Record(b"", digest, str(path), size)
            else:
                body = Path(path).read_bytes()
                digest = hashlib.sha256(body).hexdigest()
                rec = Record(body, digest)
        except OSError:
            return None
        if digest != entry[0]:
            return None
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
            self._submit(query)

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
        """The memoised record (None: Majora has no such record).

        A failure stops the run in the main process (:mod:`snakemake_majora.unchecked`: Snakemake would
        swallow an exception here when the job's output exists) and is a WorkflowError in a job.
        """
        resolved = self.__dict__.get("_resolved")
        if resolved is not None:
            return resolved[0]
        from .errors import MajoraError

        try:
            return self._fetch()
        except MajoraError as e:
            if self.provider.stops_run:
                raise self.provider.stop(self.parsed.canonical, e) from None
            raise _explain(e, self.print_query, self.provider.fetcher.domain) from None

    def _present(self) -> Record | None:
        """The record; in the main process a record Majora does not have stops the run with one line
        (Snakemake's own answer is a bare MissingInputException, or nothing when the output exists)."""
        rec = self._record()
        if rec is None and self.provider.stops_run and self._parsed is not None:
            raise self.provider.stop(self._parsed.canonical, None)
        return rec

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
            from .errors import MajoraError

            try:
                mtime = self.provider.mtime_of(self.parsed, rec)
            except MajoraError as e:  # the ledger's lock stayed held
                if self.provider.stops_run:
                    raise self.provider.stop(self.parsed.canonical, e) from None
                raise WorkflowError(f"{self.print_query}: {e}") from None
            cached = self._mtime_of = (rec.digest, mtime)
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
        if self.provider.stops_run:
            rec = self._present()  # a failure stops the run here: Snakemake ignores inventory errors
        else:
            try:
                rec = self._fetch()
            except MajoraError:
                return  # exists() raises the WorkflowError with Snakemake's context
        key = self.cache_key()
        cache.exists_in_storage[key] = rec is not None
        if rec is not None:
            cache.mtime[key] = Mtime(storage=self._mtime(rec))
            cache.size[key] = rec.size
            cache.checksum[key] = rec.checksum

    def get_inventory_parent(self) -> str | None:
        return None

    def cleanup(self) -> None:
        """Nothing beyond the local copy, which Snakemake deletes itself."""

    def exists(self) -> bool:
        return self._present() is not None

    def mtime(self) -> float:
        """First time the current content was seen (Majora has no last-modified time)."""
        return self._mtime(self._existing())

    def size(self) -> int:
        return self._existing().size

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
        # A large listing's bytes are copied from the file they were parsed into, never held in memory.

        def fill(fd: int) -> None:
            with os.fdopen(fd, "wb", closefd=False) as fh:
                rec.write_to(fh)

        atomic_write_with(Path(self.local_path()), fill, 0o666, mtime=self._mtime(rec))
