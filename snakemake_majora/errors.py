"""Exception hierarchy. Every expected failure carries a one-line message and a sysexits exit code.

The CLI prints ``snakemake-majora: error: <message>`` and exits with ``exit_code``; library users catch
``MajoraError`` (or a subclass). Messages never contain secrets or response bodies (Majora's own one-line
reasons, its ``messages`` or a DRF ``detail``, may be quoted; the response itself rides on ``response``).
"""

from __future__ import annotations

from typing import Any

EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_TEMPFAIL = 75
EX_NOPERM = 77
EX_CONFIG = 78


class MajoraError(Exception):
    """Base class for expected failures of snakemake-majora."""

    exit_code = EX_SOFTWARE

    def __init__(self, message: str, *, messages: list[str] | None = None, response: Any = None) -> None:
        super().__init__(message)
        self.message = message
        #: Majora's own ``messages`` list when the server answered with ``errors > 0``.
        self.messages = list(messages or [])
        #: The HTTP response behind a refusal or a failure, for callers that show Majora's answer as it is
        #: (``snakemake-majora ocarina`` prints it as Ocarina does); never part of the message.
        self.response = response

    def __str__(self) -> str:
        return self.message


class UsageError(MajoraError):
    """Bad command-line usage or bad arguments to a library call."""

    exit_code = EX_USAGE


class CredentialExists(UsageError):
    """A login or import would replace a working credential and was not told to (``--force``)."""


class ConfigError(MajoraError):
    """Missing, malformed or unsafe configuration (including the token store file)."""

    exit_code = EX_CONFIG


class TokenStoreError(ConfigError):
    """The token file exists but cannot be used (corrupt, empty, owned by someone else)."""


class AuthError(MajoraError):
    """Majora rejected the credential, or the credential cannot be used."""

    exit_code = EX_NOPERM


class RefusedError(AuthError):
    """Majora refused a call although the credential works (a probe call succeeds): a permission, a
    dataview grant or ``--sudo-as`` is missing, which a new login cannot give."""


class ReauthRequired(AuthError):
    """The stored credential is dead (invalid_grant, marked invalid, never logged in): run login."""


class ServerError(MajoraError):
    """Majora answered with something unusable (5xx, HTML, non-JSON) or a task failed."""

    exit_code = EX_UNAVAILABLE

    def __init__(self, message: str, *, status: int | None = None, messages: list[str] | None = None,
                 response: Any = None) -> None:
        super().__init__(message, messages=messages, response=response)
        self.status = status


class TaskFailed(ServerError):
    """A Majora task ended in FAILURE (its worker raised; the answer does not say why)."""


class TemporaryError(MajoraError):
    """A failure that may go away on retry (429/503 after retries, network, task deadline, lock wait)."""

    exit_code = EX_TEMPFAIL


class LockTimeoutError(TemporaryError):
    """Waited too long for the token lock held by another process."""


class TokenSaveError(TemporaryError):
    """A refreshed token could not be written to the store: the credential is at risk (see message)."""


class MajoraAPIError(MajoraError):
    """Majora answered 200 with ``errors > 0``; ``messages`` holds Majora's own messages."""

    exit_code = EX_DATAERR


class NotFoundError(MajoraAPIError):
    """The requested record does not exist on Majora."""

    exit_code = EX_NOINPUT
