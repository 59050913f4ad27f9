"""``CredentialManager.ensure_token(min_ttl)``: the one gate every API call passes through.

Algorithm (docs/credentials.md, reference token-refresh.md §7): read the store without locking; if
less than ``max(margin, min_ttl)`` remains, take the thread lock and the file lock, re-read, refresh
only if still needed, write at once. Waiters re-read the store between lock attempts and leave as
soon as a peer has written a fresh token. ``invalid_grant`` re-reads; if a peer rotated, its token is
used; otherwise the store is marked invalid (never deleted) and the user is told to log in.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings
from .errors import (
    CredentialExists,
    LockTimeoutError,
    ReauthRequired,
    TemporaryError,
    TokenSaveError,
)
from .locking import LOCK_WAIT, LockBusy, TokenLock
from .logsafe import fingerprint, install, register_secret
from .store import RESERVE_MIN, Reservation, TokenRecord, TokenStore, holder_id, store_filename

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

MARGIN = 15 * 60.0
LOCK_SLICE = 0.25


@dataclass(frozen=True)
class Credential:
    """What a request needs: the bearer token (OAuth) or the API key. ``repr`` hides the secret."""

    secret: str = field(repr=False)
    oauth: bool
    generation: int = 0
    expires_at: float = float("inf")

    def __repr__(self) -> str:
        fp = fingerprint(self.secret)
        return f"Credential(oauth={self.oauth}, generation={self.generation}, secret={fp})"


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back (main thread only, where Python runs handlers) until the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def default_token_path(settings: Settings) -> Path:
    """``token_file`` if set, else ``<home>/tokens/<user>-<hash(domain, client id, user)>.json``."""
    if settings.token_file:
        return settings.token_file
    return settings.home / "tokens" / store_filename(settings.domain, settings.client_id or "", settings.user)


def iso_utc(t: float) -> str:
    """``2026-12-03T07:00:00Z``: how ``status`` shows a time."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def invalid_in_words(marker: dict[str, Any] | None) -> str | None:
    """The token file's invalid marker as ``status`` shows it: a sentence, not a dict with an epoch."""
    if not marker:
        return None
    since = marker.get("since")
    when = iso_utc(since) if isinstance(since, (int, float)) else "an unknown time"
    words = (f"Majora rejected the refresh token ({marker.get('reason', 'unknown reason')}) at "
             f"{when}")
    if marker.get("generation") is not None:
        words += f", generation {marker['generation']}"
    if marker.get("by"):
        words += f", seen by {marker['by']}"
    return words + "; run `snakemake-majora login`"


class CredentialManager:
    """Shared, rotation-safe access to one credential. Thread-safe; one instance per process is enough."""

    def __init__(self, settings: Settings, *, session: requests.Session | None = None, margin: float = MARGIN,
                 lock_wait: float = LOCK_WAIT, clock: Callable[[], float] = time.time) -> None:
        install()
        self.settings = settings
        self.margin = margin
        self.lock_wait = lock_wait
        self.clock = clock
        self._session = session
        self.path = default_token_path(settings)
        # Every read refuses a record issued for another server or client: a token is only ever sent to
        # the domain it came from, whatever a (possibly tampered) configuration says.
        self.store = TokenStore(self.path, bound_to=(settings.domain, settings.client_id or ""))
        self.lock = TokenLock(self.path, settings.lock, lease_duration=settings.lock_lease_seconds)
        self._warned_ttl = False
        self._cleaned = False
        self._unsaved: TokenRecord | None = None  # refreshed, but the store refused it
        self._mu = threading.Lock()
        register_secret(settings.api_key)
        register_secret(settings.client_secret)

    @property
    def session(self) -> requests.Session:
        """HTTP session for token requests, created on first use: the fast path never needs requests."""
        if self._session is None:
            from .transport import new_session

            self._session = new_session()
        return self._session

    def __repr__(self) -> str:
        return f"CredentialManager({self.settings!r}, store={str(self.path)!r})"

    # -- reading -----------------------------------------------------------------------------------
    def _read(self, force: bool = False) -> TokenRecord:
        rec = self.store.read(force=force)
        unsaved = self._unsaved
        if unsaved is not None and (rec is None or rec.generation < unsaved.generation):
            # The store holds a pair that Majora has already rotated away; ours is the live one.
            return unsaved
        if rec is None:
            raise ReauthRequired(
                f"no stored token for {self.settings.user} at {self.settings.domain} (looked in "
                f"{self.path}); "
                "run `snakemake-majora login`"
            )
        if rec.invalid:
            raise ReauthRequired(
                f"the stored token in {self.path} was marked invalid "
                f"({rec.invalid.get('reason', 'rejected')}); "
                "run `snakemake-majora login`"
            )
        return rec

    def threshold(self, rec: TokenRecord, min_ttl: float) -> float:
        """Seconds of validity a token must still have. The margin never exceeds half the token's lifetime,
        and ``min_ttl`` is capped so that a freshly refreshed token always satisfies it (no refresh loop)."""
        eff = min(self.margin, rec.lifetime / 2)
        want = min_ttl
        cap = rec.lifetime - eff
        if want > cap:
            if not self._warned_ttl:
                self._warned_ttl = True
                log.warning("min_ttl %.0fs exceeds what a fresh token can give (%.0fs); using %.0fs",
                            min_ttl, rec.lifetime, cap)
            want = cap
        return max(eff, want)

    def is_fresh(self, rec: TokenRecord, min_ttl: float = 0.0) -> bool:
        return rec.expires_at - self.clock() >= self.threshold(rec, min_ttl)

    @staticmethod
    def _cred(rec: TokenRecord) -> Credential:
        return Credential(rec.access_token, True, rec.generation, rec.expires_at)

    # -- the gate ------------------------------------------------------------------------------------
    def ensure_token(self, min_ttl: float = 0.0) -> Credential:
        """Return a credential valid for at least ``max(margin, min_ttl)`` seconds, refreshing if needed."""
        if not self.settings.oauth:
            return Credential(self.settings.api_key or "", False)
        rec = self._read()
        if self.is_fresh(rec, min_ttl):
            return self._cred(rec)
        return self._locked(lambda cur: not self.is_fresh(cur, min_ttl), why="expiring")

    def on_unauthorized(self, failed: Credential) -> Credential | None:
        """After Majora rejected ``failed``: return a different current token, refreshing only if the store
        still holds the failed one. ``None`` in API-key mode (nothing to refresh)."""
        if not failed.oauth:
            return None
        rec = self._read(force=True)
        if rec.access_token != failed.secret:
            return self._cred(rec)
        return self._locked(lambda cur: cur.access_token == failed.secret, why="rejected by server")

    def force_refresh(self) -> Credential:
        """Refresh now (``snakemake-majora refresh``); concurrent callers share one refresh."""
        seen = self._read(force=True).generation
        return self._locked(lambda cur: cur.generation == seen, why="forced")

    def _locked(self, need: Callable[[TokenRecord], bool], why: str) -> Credential:
        deadline = time.monotonic() + self.lock_wait
        while True:
            try:
                with self.lock.hold(timeout=min(LOCK_SLICE, max(0.01, deadline - time.monotonic()))):
                    cur = self._read(force=True)
                    if not need(cur):
                        return self._cred(cur)
                    return self._cred(self._refresh_locked(cur, why))
            except LockBusy:
                rec = self._read()
                if not need(rec):
                    return self._cred(rec)
                if time.monotonic() >= deadline:
                    if rec.expires_at > self.clock() + 60:
                        log.warning("token lock still held by %s; using the current "
                                    "token", self.lock.holder())
                        return self._cred(rec)
                    raise LockTimeoutError(
                        f"waited {self.lock_wait:.0f}s for the token lock {self.lock.lock_path} held by "
                        f"{self.lock.holder()}; if that process is gone, try again (lock backend "
                        f"{self.lock.backend})"
                    ) from None

    def _refresh_locked(self, cur: TokenRecord, why: str) -> TokenRecord:
        """Refresh with the lock held and write the store immediately."""
        # A pair refreshed earlier but never stored (full disk, quota, read-only mount) is the live one:
        # the store's refresh token was rotated away. Put it back before anything else.
        recovered = self._recover_unsaved(cur)
        if recovered is not None:
            if self.is_fresh(recovered):
                return recovered
            cur = recovered
        if not cur.refresh_token:
            raise ReauthRequired(f"the stored token in {self.path} has no refresh token; run "
                                 f"`snakemake-majora login`")
        if not self._cleaned:
            self._cleaned = True
            self.store.clean_stale_tmp()
        from . import oauth  # lazy: requests/tenacity are not needed while the token is fresh

        # Majora rotates the pair as soon as it answers: if the new record cannot be written then, the
        # credential is lost. So the disk blocks are taken now, before the request; if that fails,
        # nothing has been sent and the old pair still works.
        reservation = self._reserve(cur)
        try:
            # The lock was taken a moment ago, but a lease can be overtaken while this process stands
            # still (SIGSTOP, a suspended job, a paused VM): then a peer has rotated the refresh token we
            # hold, and sending it would make a strict server revoke the whole token family. Look once
            # more right before the request; what remains is the instant between this read and the POST.
            rotated = self._rotated_by_peer(cur)
            if rotated is not None:
                return rotated
            log.info("refreshing token (%s; generation %d, by %s)", why, cur.generation, holder_id())
            # Ctrl-C or SIGTERM between Majora's answer and the write would lose the new pair: they
            # take effect once it is stored (at most the refresh's deadline later).
            with _signals_deferred():
                try:
                    tok, t_before = oauth.refresh(self.settings, self.session, cur.refresh_token,
                                                  budget=self._refresh_budget())
                except oauth.InvalidGrant:
                    rotated = self._rotated_by_peer(cur)
                    if rotated is not None:
                        return rotated
                    cur.invalid = {"since": time.time(), "reason": "invalid_grant",
                                   "generation": cur.generation, "by": holder_id()}
                    try:
                        self.store.write(cur)
                    except OSError as exc:  # the marker only saves peers a request; the answer stands
                        log.warning("could not mark %s invalid (%s)", self.path, exc.strerror)
                    raise ReauthRequired(
                        "Majora rejected the stored refresh token (invalid_grant); the token file was kept "
                        "and marked invalid; run `snakemake-majora login`"
                    ) from None
                new = TokenRecord.from_token_response(
                    tok, domain=self.settings.domain, client_id=self.settings.client_id or "",
                    user=self.settings.user, t_before=t_before, generation=cur.generation + 1)
                if not new.refresh_token:
                    new.refresh_token = cur.refresh_token
                self._save_refreshed(new, reservation)
        finally:
            reservation.discard()
        log.info("token refreshed: generation %d, valid %.0fs", new.generation, new.expires_at - t_before)
        return new

    def _refresh_budget(self) -> float:
        """Seconds the refresh may take. Under a lease it must end well inside the lease, or a waiter takes
        the lease over while the request is still out and sends the same refresh token."""
        from .oauth import REFRESH_BUDGET

        if self.lock.backend == "lease":
            # At least 10 s: leases that short are for tests, where the heartbeat keeps them anyway.
            return min(REFRESH_BUDGET, max(10.0, self.lock.lease_duration * 0.75))
        return REFRESH_BUDGET

    def _reserve(self, cur: TokenRecord) -> Reservation:
        """Disk space for the next record, or a clear error with nothing sent to Majora."""
        try:
            return self.store.reserve(max(RESERVE_MIN, 4 * len(cur.to_json())))
        except OSError as exc:
            raise TemporaryError(
                f"cannot write the token file in {self.path.parent} "
                f"({exc.strerror or errno.errorcode.get(exc.errno or 0, exc)}); the token was not "
                "refreshed and still works until it expires. Free space or quota there (or make it "
                "writable), then try again"
            ) from None

    def _save_refreshed(self, new: TokenRecord, reservation: Reservation) -> None:
        """Store a pair Majora has just issued; if the store refuses it, never let the pair be lost.

        The old pair is dead at this point. Order: the reserved blocks; a few plain retries; then keep
        it in this process's memory (every later call uses it, and the next refresh puts it back) and
        in a rescue file, and fail loudly with the way to recover.
        """
        try:
            reservation.commit(new)
            return
        except OSError as exc:
            first = exc
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

        self._unsaved = new
        try:
            for attempt in Retrying(retry=retry_if_exception_type(OSError), stop=stop_after_attempt(3),
                                    wait=wait_fixed(0.2), reraise=True):
                with attempt:
                    self.store.write(new)
            self._unsaved = None
            if reservation.kept:
                with contextlib.suppress(OSError):
                    reservation.tmp.unlink()
            log.warning("the token store %s was written on a second attempt (first: %s)", self.path,
                        first.strerror)
            return
        except OSError as exc:
            why = exc.strerror or str(exc)
        rescue = self.store.write_rescue(new)
        kept = reservation.tmp if reservation.kept and reservation.tmp.exists() else None
        also = f" and {kept}" if kept else ""
        if rescue:
            where = f"it was saved to {rescue} (0600){also} and is kept in this process's memory"
        elif kept:
            where = (f"no rescue file could be written, but it is in {kept} (0600, next to the store, where "
                     "the next refresh adopts it) and in this process's memory")
        else:
            where = ("no rescue file could be written either: it lives only in this process's memory, "
                     "which keeps working until it exits")
        msg = (f"the token was refreshed but the token file {self.path} could not be written ({why}); "
               f"the stored refresh token is now dead and the credential is at risk: {where}. Free space "
               "or quota there (or make it writable), then run `snakemake-majora refresh`, which puts the "
               "rescued token back"
               + (f" (or by hand: mv {rescue} {self.path})" if rescue else ""))
        raise TokenSaveError(msg)

    def _recover_unsaved(self, cur: TokenRecord) -> TokenRecord | None:
        """Write back a newer pair this process, a rescue file or a left-over reservation holds (lock held);
        return it, or None. The newest generation wins; only this store's own files are looked at (their
        names carry the store's path), and only those for this store's domain, client and user are
        adopted or removed."""
        mine = (self.settings.domain, self.settings.client_id or "", self.settings.user)
        files = [(p, r) for p, r in self.store.rescue_candidates() if (r.domain, r.client_id, r.user) == mine]
        cands: list[tuple[Path | None, TokenRecord]] = list(files)
        if self._unsaved is not None:
            cands.append((None, self._unsaved))
        live = [(p, r) for p, r in cands if r.generation > cur.generation]
        if not live:
            # The store already holds these pairs or newer ones (a peer recovered them, or a new login).
            self._unsaved = None
            self._remove(files, cur.generation)
            return None
        where, cand = max(live, key=lambda c: c[1].generation)
        try:
            self.store.write(cand)
        except OSError as exc:
            raise TokenSaveError(
                f"the token file {self.path} still cannot be written ({exc.strerror}); the live credential "
                f"is kept in {where or 'this process'}: free space or quota there (or make it writable), "
                "then run `snakemake-majora refresh`"
            ) from None
        log.warning("recovered the refreshed token (generation %d) that could not be stored before, from %s",
                    cand.generation, where or "this process's memory")
        self._unsaved = None
        self._remove(files, cand.generation)
        return cand

    @staticmethod
    def _remove(files: list[tuple[Path, TokenRecord]], upto: int) -> None:
        """Delete rescue/temp files of this store whose pair the store now holds or has superseded."""
        for path, rec in files:
            if rec.generation <= upto:
                with contextlib.suppress(OSError):
                    path.unlink()

    def _rotated_by_peer(self, cur: TokenRecord) -> TokenRecord | None:
        """The store's record if a peer replaced ``cur`` while this process held the lock, else None.

        That can only happen when the lock stopped excluding: a lease overtaken while this process stalled,
        or a lock that does not work across nodes. Says which, and uses the peer's token.
        """
        again = self.store.read(force=True)
        if again is None or (again.refresh_token == cur.refresh_token and again.generation == cur.generation):
            return None
        if self.lock.backend == "lease":
            cause = (f"this process stalled longer than the {self.lock.lease_duration:g}s lease on "
                     f"{self.path.parent} (lock_lease_seconds), or the lease does not exclude there")
        else:
            cause = f"the flock lock on {self.path.parent} does not exclude across processes"
        log.warning("a peer refreshed the token while this process held the lock: %s; using the "
                    "peer's token", cause)
        if again.invalid:
            raise ReauthRequired(f"the stored token in {self.path} was marked invalid; run "
                                 "`snakemake-majora login`")
        return again

    # -- login / logout / status -------------------------------------------------------------------
    def working(self, rec: TokenRecord | None) -> bool:
        """True if ``rec`` is a credential that works without a human: not marked invalid, and either
        refreshable or still valid."""
        if rec is None or rec.invalid:
            return False
        return bool(rec.refresh_token) or rec.expires_at > self.clock()

    def save_new_token(self, tok: dict[str, Any], t_before: float, *,
                       replace_working: bool = True, what: str = "login") -> TokenRecord:
        """Store a token from a login or import (generation + 1, invalid cleared), under the lock.

        With ``replace_working=False`` a store that holds a working credential is left alone and
        :class:`CredentialExists` is raised: an imported token may be an older one Majora has already
        rotated, and replacing the live pair with it loses both.
        """
        deadline = time.monotonic() + self.lock_wait
        while True:
            try:
                with self.lock.hold(timeout=min(LOCK_SLICE, max(0.01, deadline - time.monotonic()))):
                    # A login replaces whatever the file held, even a record of another server (unbound).
                    cur = self.store.read(force=True, bound=False)
                    if not replace_working and self.working(cur):
                        raise CredentialExists(
                            f"the token store {self.path} already holds a working credential (generation "
                            f"{cur.generation}); the {what} was not saved, so it cannot replace the live "
                            "token with an older one. Add --force to replace it anyway")
                    rec = TokenRecord.from_token_response(
                        tok, domain=self.settings.domain, client_id=self.settings.client_id or "",
                        user=self.settings.user, t_before=t_before,
                        generation=(cur.generation if cur else 0) + 1)
                    self.store.write(rec)
                    return rec
            except LockBusy:
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(f"waited {self.lock_wait:.0f}s for the token lock held by "
                                           f"{self.lock.holder()}") from None

    def forget(self, revoke: bool = False) -> bool:
        """Delete the local token (``logout``); revoke it on the server only if asked. True if one existed."""
        try:
            with self.lock.hold(timeout=self.lock_wait):
                rec = self.store.read(force=True)
                if rec is None:
                    return False
                if revoke and rec.refresh_token:
                    from . import oauth

                    oauth.revoke(self.settings, self.session, rec.refresh_token, "refresh_token")
                self.path.unlink()
                return True
        except LockBusy:
            raise LockTimeoutError(f"waited {self.lock_wait:.0f}s for the token lock held by "
                                   f"{self.lock.holder()}") from None

    def status(self) -> dict[str, Any]:
        """Non-secret state of the credential, for ``status``/``doctor``."""
        out: dict[str, Any] = {"mode": "oauth" if self.settings.oauth else "api-key",
                               "token_file": str(self.path), "lock_file": str(self.lock.lock_path)}
        backend, reason = self.lock.backend_info
        out["lock_backend"], out["lock_reason"] = backend, reason
        if not self.settings.oauth:
            return out
        try:
            rec = self.store.read(force=True)
        except Exception as exc:  # reported, not raised: doctor must keep going
            out["error"] = str(exc)
            return out
        if rec is None:
            out["state"] = "missing"
            out["login_needed"] = True
            return out
        now = self.clock()
        out.update({
            "state": "invalid" if rec.invalid else ("expired" if rec.expires_at <= now else "valid"),
            "generation": rec.generation,
            "expires_at": iso_utc(rec.expires_at),
            "expires_in": round(rec.expires_at - now),
            "needs_refresh": not self.is_fresh(rec),
            # An expired access token is routine (Majora's refresh tokens never expire): only a missing,
            # invalid or refresh-less credential needs a human.
            "login_needed": bool(rec.invalid) or not rec.refresh_token,
            "invalid": invalid_in_words(rec.invalid),
            "scope": rec.scope,
            "refreshed_by": rec.refreshed_by,
            "access_token_fingerprint": fingerprint(rec.access_token),
        })
        return out
