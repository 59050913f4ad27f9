"""``snakemake-majora ocarina ...``: Ocarina 1.0.0's command line on the shared credential.

Same commands, options, request bodies, stdout layouts, stderr placement and exit codes as Ocarina; every
request goes through the project's one API path (:meth:`MajoraClient.raw_request`), so the token is read
from, and refreshed in, the shared store under its lock. See docs/ocarina.md for the few deliberate
differences.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

PROG = "snakemake-majora ocarina"


def _metadata(entries: list[list[str]] | None) -> dict[str, Any]:
    """``-m TAG KEY VALUE`` triples into ``{tag: {key: value}}``."""
    metadata: dict[str, Any] = {}
    for tag, key, value in entries or []:
        metadata.setdefault(tag, {})[key] = value
    return metadata


def _metrics(entries: list[list[str]] | None) -> dict[str, Any]:
    """``--metric NS[.RECORD] KEY VALUE`` triples into ``{ns: {key: value, "records": {record: {...}}}}``."""
    metrics: dict[str, Any] = {}
    for key, name, value in entries or []:
        namespace, _, record = key.partition(".")
        ns = metrics.setdefault(namespace, {})
        if record:
            ns.setdefault("records", {}).setdefault(record, {})[name] = value
        else:
            ns[name] = value
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    """Run one Ocarina command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)


def _run(argv: list[str]) -> int:
    from ..errors import EX_CONFIG, EX_SOFTWARE, EX_USAGE, MajoraError
    from ..logsafe import redact
    from .commands import HANDLERS
    from .parser import build_parser

    args = build_parser(argv, HANDLERS, PROG).parse_args(argv)
    try:
        from . import config

        conf = config.load(args.env, args.profile, args.oauth)
    except config.EnvIncomplete as exc:
        # Ocarina's line, naming what is missing.
        sys.stderr.write(f"[FAIL] {exc}.\n")
        return EX_CONFIG
    except MajoraError as exc:
        sys.stderr.write(f"[FAIL] Configuration not valid: {redact(str(exc))}\n")
        return EX_CONFIG
    settings = conf.settings
    if args.print_config:
        for key, value in settings.describe().items():
            print(f"{key}\t{value}")
        print("Config is: VALID")
        return 0
    if ("--partial" in argv or "--update" in argv) and not getattr(args, "partial", False):
        sys.stderr.write("--partial was given before the command name and is ignored there: move it after "
                         "the command\n  e.g. put biosample --partial, not put --partial biosample\n")
        return EX_USAGE
    if not (args.quiet or args.no_banner or conf.no_banner or conf.quiet):
        sys.stderr.write(f"Hello {settings.user}.\n")
    func = getattr(args, "func", None)
    if func is None:
        return 0
    metadata = _metadata(getattr(args, "metadata", None))
    metrics = _metrics(getattr(args, "metric", None))
    delattr(args, "func")

    from ..client import MajoraClient
    from .emit import Emitter

    try:
        with MajoraClient(settings) as client:
            em = Emitter(client, quiet=args.quiet or conf.quiet, oauth_flag=args.oauth,
                         sudo_as=getattr(args, "sudo_as", None))
            func(em, args, metadata, metrics)
    except MajoraError as exc:
        sys.stderr.write(f"{PROG}: error: {redact(str(exc))}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except (AttributeError, KeyError, TypeError, IndexError, ValueError) as exc:
        # Ocarina would stop with a traceback here: an answer without the fields the command prints.
        sys.stderr.write(f"{PROG}: error: Majora's answer lacks what this command prints "
                         f"({type(exc).__name__}: {redact(str(exc))})\n")
        return EX_SOFTWARE
    sys.stdout.flush()
    return 0
