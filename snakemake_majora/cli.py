"""The ``snakemake-majora`` command. Expected failures print one line and exit with a sysexits code."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .errors import EX_DATAERR, EX_SOFTWARE, MajoraError, NotFoundError, UsageError
from .payloads import metrics_from_triples

log = logging.getLogger("snakemake_majora.cli")
PROG = "snakemake-majora"
BIOSAMPLE_FLAGS = (
    "central-sample-id", "adm1", "adm2", "adm2-private", "collection-date", "received-date",
    "is-surveillance", "source-age", "source-sex", "sample-type-collected", "sample-type-received",
    "swab-site", "collection-pillar", "root-sample-id", "sender-sample-id", "biosample-source-id",
    "collecting-org")
SHELLS = ("bash", "zsh", "fish")
RUN_FLAGS = ("run-name", "sequencing-id", "instrument-make", "instrument-model", "flowcell-type",
             "flowcell-id", "start-time", "end-time", "bioinfo-pipe-name", "bioinfo-pipe-version")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _globals(p: argparse.ArgumentParser, suppress: bool) -> None:
    d = argparse.SUPPRESS if suppress else None
    p.add_argument("--profile", default=d, help="configuration profile")
    p.add_argument("--config", default=d, help="config file (default $SNAKEMAKE_MAJORA_HOME/config.yaml)")
    p.add_argument("--token-file", default=d, help="token store file (default under <home>/tokens/)")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS if suppress else False)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS if suppress else False,
                   help="machine-readable output")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS if suppress else False,
                   help="debug logging (secrets are redacted)")


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree (``server ...`` is handled before parsing)."""
    common = _Parser(add_help=False)
    _globals(common, suppress=True)
    p = _Parser(prog=PROG, description="Majora for Snakemake pipelines: shared credentials and a CLI.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _globals(p, suppress=False)
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", required=True, parser_class=_Parser)

    lg = sub.add_parser("login", parents=[common], help="authorise this machine (OAuth)")
    g = lg.add_mutually_exclusive_group()
    g.add_argument("--url-only", action="store_true", help="print the authorize URL and keep the pending "
                                                           "state")
    g.add_argument("--callback-url", metavar="URL",
                   help="complete a login started with --url-only; `-` reads the URL from stdin, which "
                        "keeps the one-time code off the command line")
    g.add_argument("--import-ocarina", nargs="?", const="", metavar="TOKENS_FILE",
                   help="import a token from Ocarina's tokens file (default MAJORA_TOKENS_FILE); refused "
                        "over a working credential unless --force")
    lg.add_argument("--force", action="store_true",
                    help="let --import-ocarina replace a working credential")
    lg.add_argument("--keep", action="store_true",
                    help="do not replace a working credential (the login then stops with exit 64)")
    lo = sub.add_parser("logout", parents=[common], help="forget the local token")
    lo.add_argument("--revoke", action="store_true", help="also revoke the refresh token on the server")
    sub.add_parser("refresh", parents=[common], help="refresh the token now")
    sub.add_parser("status", parents=[common],
                   help="show the token state (never the token); exit 77 if a new login is needed")
    tk = sub.add_parser("token", parents=[common], help="print a valid access token (for shell jobs)")
    tk.add_argument("--min-ttl", type=float, default=0.0, help="seconds the token must stay valid")

    get = sub.add_parser("get", parents=[common], help="read from Majora").add_subparsers(
        dest="what", metavar="WHAT", required=True, parser_class=_Parser)
    out = _Parser(add_help=False)
    out.add_argument("-o", "--output", help="write JSON here (atomically) instead of stdout")
    gb = get.add_parser("biosample", parents=[common, out], help="biosample records")
    gb.add_argument("ids", nargs="+", metavar="CENTRAL_SAMPLE_ID")
    gv = get.add_parser("validity", parents=[common, out], help="which biosamples exist (batch)")
    gv.add_argument("ids", nargs="+", metavar="CENTRAL_SAMPLE_ID")
    gs = get.add_parser("sequencing", parents=[common, out], help="sequencing runs ('*' = all, async)")
    gs.add_argument("runs", nargs="+", metavar="RUN_NAME")
    gp = get.add_parser("pag", parents=[common, out], help="published artifact groups by QC test (async)")
    gp.add_argument("--test-name", required=True)
    for flag in ("pass", "fail", "public", "private"):
        gp.add_argument(f"--{flag}", action="store_true", default=None)
    for opt in ("service-name", "published-after", "published-before", "suppressed-after", "mode"):
        gp.add_argument(f"--{opt}")
    gd = get.add_parser("dataview", parents=[common, out], help="dataview rows (OAuth, async)")
    gd.add_argument("--mdv", required=True, metavar="CODE")
    gsum = get.add_parser("summary", parents=[common, out], help="Majora summary")
    gsum.add_argument("--gte-date")
    gt = get.add_parser("task", parents=[common, out], help="result of an async task")
    gt.add_argument("task_id")

    put = sub.add_parser("put", parents=[common], help="write to Majora").add_subparsers(
        dest="what", metavar="WHAT", required=True, parser_class=_Parser)
    src = _Parser(add_help=False)
    src.add_argument("--file", help="JSON (object or list) or TSV with a header row")
    src.add_argument("--strict", action="store_true",
                     help="exit 65 if Majora accepted the call but ignored part of it or warned")
    src.add_argument("--metric", nargs=3, action="append", metavar=("NAMESPACE", "KEY", "VALUE"),
                     help="a metric, as Ocarina's --metric; NAMESPACE.RECORD for record-style metrics "
                          "(e.g. ct.1 ct_value 21.3)")
    pb = put.add_parser("biosample", parents=[common, src], help="add or update biosamples")
    for opt in BIOSAMPLE_FLAGS:
        pb.add_argument(f"--{opt}")
    pb.add_argument("-m", "--metadata", nargs=3, action="append", metavar=("TAG", "KEY", "VALUE"))
    pb.add_argument("--partial", "--update", action="store_true", help="only change the fields given")
    pb.add_argument("--empty", action="store_true", help="register empty placeholder biosamples (addempty)")
    pl = put.add_parser("library", parents=[common, src], help="add a library")
    for opt in ("library-name", "library-layout-config", "library-seq-kit", "library-seq-protocol",
                "library-layout-insert-length", "library-layout-read-length"):
        pl.add_argument(f"--{opt}")
    pl.add_argument("--biosample", nargs=6, action="append", metavar=(
        "ID", "SOURCE", "SELECTION", "STRATEGY", "PROTOCOL", "PRIMERS"))
    pl.add_argument("--force-biosamples", action="store_true", default=None)
    ps = put.add_parser("sequencing", parents=[common, src], help="add a sequencing run")
    for opt in ("library-name", "run-group", *RUN_FLAGS):
        ps.add_argument(f"--{opt}")
    pm = put.add_parser("metric", parents=[common, src], help="add metrics to an artifact")
    target = pm.add_mutually_exclusive_group(required=True)
    target.add_argument("--artifact", help="the artifact's name (e.g. a biosample ID)")
    target.add_argument("--artifact-path", help="the path a file was registered with (file/add)")

    dr = sub.add_parser("doctor", parents=[common], help="explain config, token state and lock backend")
    dr.add_argument("--lock-test", action="store_true", help="timed hold-overlap test of the token lock")
    dr.add_argument("--seconds", type=float, default=20.0)
    cp = sub.add_parser("completion", help="print the shell completion script (see README: Shell completion)")
    cp.add_argument("shell", choices=SHELLS)
    sub.add_parser("server", help="majora-lite (needs the `server` extra); see `server --help`")
    sub.add_parser("ocarina", help="Ocarina 1.0.0's command line on the shared credential "
                                   "(see docs/ocarina.md)")
    return p


# -- helpers ------------------------------------------------------------------------------------------
def _setup_logging(verbose: bool, quiet: bool) -> None:
    from .logsafe import install

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s" if verbose
                                           else f"{PROG}: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING)
    install(handler)


def _settings(a: argparse.Namespace, require: bool = True):
    from .config import load_settings

    return load_settings(profile=a.profile, config_file=a.config, token_file=a.token_file, require=require)


def _manager(a: argparse.Namespace):
    from .credentials import CredentialManager

    return CredentialManager(_settings(a))


def _client(a: argparse.Namespace):
    from .client import MajoraClient

    progress = None
    if sys.stderr.isatty() and not a.quiet:
        def progress(msg: str) -> None:
            sys.stderr.write(f"\r{msg[:100]:<100}")
            sys.stderr.flush()
    return MajoraClient(_settings(a), progress=progress)


def _emit(a: argparse.Namespace, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    if getattr(a, "output", None):
        from .store import atomic_write_private

        atomic_write_private(Path(a.output), text.encode(), mode=0o644)
        if not a.quiet:
            print(f"{PROG}: wrote {a.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def _emit_runs(a: argparse.Namespace, answer: Path) -> None:
    """:func:`_emit` for every run of a spooled ``sequencing/get '*'`` answer: the same bytes, written
    run by run from the task file rather than held in memory."""
    from .spool import write_runs

    if getattr(a, "output", None):
        from .store import atomic_write_with

        def fill(fd: int) -> None:
            with os.fdopen(fd, "wb", closefd=False) as fh:
                write_runs(answer, fh, indent=2, ensure_ascii=True)

        atomic_write_with(Path(a.output), fill, 0o644)
        if not a.quiet:
            print(f"{PROG}: wrote {a.output}", file=sys.stderr)
    else:
        sys.stdout.flush()
        write_runs(answer, sys.stdout.buffer, indent=2, ensure_ascii=True)
        sys.stdout.buffer.flush()


def _read_records(path: str) -> list[dict[str, Any]]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if p.suffix.lower() in (".tsv", ".txt") or (text.lstrip()[:1] not in ("{", "[")):
        rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
        out = []
        for row in rows:
            rec: dict[str, Any] = {}
            for k, v in row.items():
                if k is None or v in (None, ""):
                    continue
                if k.startswith("metadata."):
                    _, tag, name = k.split(".", 2)
                    rec.setdefault("metadata", {}).setdefault(tag, {})[name] = v
                else:
                    rec[k] = v
            out.append(rec)
        return out
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"malformed JSON in {path} line {exc.lineno}: {exc.msg}") from None
    return data if isinstance(data, list) else [data]


def _flags(a: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    return {n.replace("-", "_"): getattr(a, n.replace("-", "_")) for n in names
            if getattr(a, n.replace("-", "_"), None) is not None}


# -- commands -----------------------------------------------------------------------------------------
def cmd_login(a: argparse.Namespace) -> int:
    from . import login
    from .credentials import iso_utc

    mgr = _manager(a)
    if a.import_ocarina is not None:
        rec = login.import_ocarina(mgr, Path(a.import_ocarina) if a.import_ocarina else None, force=a.force)
    elif a.url_only:
        if a.keep:
            login.refuse_if_working(mgr, "login")
        print(login.start_login(mgr))
        return 0
    elif a.callback_url:
        url = sys.stdin.readline().strip() if a.callback_url == "-" else a.callback_url
        rec = login.finish_login(mgr, url, keep=a.keep)
    else:
        if not login.stdin_is_interactive():
            raise UsageError("login needs a terminal to paste the callback URL; without one run "
                             f"`{PROG} login --url-only`, open the URL, then `{PROG} login --callback-url "
                             f"URL`")

        def say(msg: str) -> None:
            print(msg, file=sys.stderr)

        def read_line(prompt: str) -> str:
            try:
                return input(prompt)
            except EOFError:
                raise UsageError("no callback URL given (end of input)") from None

        rec = login.interactive_login(mgr, read_line, say, keep=a.keep)
    if not a.quiet:
        print(f"{PROG}: logged in as {mgr.settings.user} at {mgr.settings.domain} (token valid until "
              f"{iso_utc(rec.expires_at)}; stored in {mgr.path})",
              file=sys.stderr)
    return 0


def cmd_logout(a: argparse.Namespace) -> int:
    mgr = _manager(a)
    had = mgr.forget(revoke=a.revoke)
    if not a.quiet:
        print(f"{PROG}: {'removed' if had else 'no token at'} {mgr.path}", file=sys.stderr)
    return 0


def cmd_refresh(a: argparse.Namespace) -> int:
    mgr = _manager(a)
    if not mgr.settings.oauth:
        raise UsageError("refresh is for OAuth; API keys are renewed in Majora's web interface")
    cred = mgr.force_refresh()
    if not a.quiet:
        print(f"{PROG}: token refreshed (generation {cred.generation})", file=sys.stderr)
    return 0


def cmd_status(a: argparse.Namespace) -> int:
    st = _manager(a).status()
    if a.json:
        _emit(a, st)
    else:
        for k, v in st.items():
            print(f"{k}: {v}")
    # Exit 77 only when a human must log in again; an expired but refreshable token is healthy.
    return 0 if st.get("mode") == "api-key" or st.get("login_needed") is False else 77


def cmd_token(a: argparse.Namespace) -> int:
    cred = _manager(a).ensure_token(a.min_ttl)
    sys.stdout.write(cred.secret + "\n")
    return 0


def cmd_get(a: argparse.Namespace) -> int:
    from .client import spooled_file

    c = _client(a)
    try:
        if a.what == "biosample":
            data: Any = {}
            for n, i in enumerate(a.ids, 1):
                if c.progress and len(a.ids) > 1:
                    c.progress(f"biosample {n}/{len(a.ids)}: {i}")
                data[i] = c.get_biosample(i)
        elif a.what == "validity":
            data = c.biosample_validity(a.ids)
        elif a.what == "sequencing":
            # Every run ('*') may be hundreds of MB: a large answer is written out from its task file.
            data = c.get_sequencing(a.runs, spool=list(a.runs) == ["*"])
            if spooled_file(data) is not None:
                _emit_runs(a, Path(data["spooled"]))
                return 0
            missing = [r for r in a.runs if r != "*" and r not in data]
            if missing and not data:
                raise NotFoundError(f"sequencing run {', '.join(missing)} not found on Majora")
            for run in missing:
                print(f"{PROG}: warning: sequencing run {run} not found on Majora", file=sys.stderr)
        elif a.what == "pag":
            data = c.get_pags(a.test_name, pass_=getattr(a, "pass"),
                              fail=a.fail, public=a.public, private=a.private, service_name=a.service_name,
                              published_after=a.published_after, published_before=a.published_before,
                              suppressed_after=a.suppressed_after, mode=a.mode)
        elif a.what == "dataview":
            data = c.get_dataview(a.mdv)
        elif a.what == "summary":
            data = c.get_summary(a.gte_date)
        else:
            data = c.wait_task(a.task_id)
    finally:
        if c.progress:
            sys.stderr.write("\n")
        c.close()
    _emit(a, data)
    return 0


def cmd_put(a: argparse.Namespace) -> int:
    if a.metric and a.what in ("library", "sequencing"):
        raise UsageError(f"--metric is for `put biosample` and `put metric`, not `put {a.what}`")
    c = _client(a)
    recs = _read_records(a.file) if a.file else []
    if a.what == "biosample":
        one = _flags(a, list(BIOSAMPLE_FLAGS))
        if a.metadata:
            md: dict[str, dict[str, str]] = {}
            for tag, key, val in a.metadata:
                md.setdefault(tag, {})[key] = val
            one["metadata"] = md
        if a.metric:
            one["metrics"] = metrics_from_triples(a.metric)
        if one:
            recs.append(one)
        if not recs:
            raise UsageError("give --central-sample-id and fields, or --file")
        if a.empty:
            data = c.addempty_biosamples([r if len(r) > 1 else r["central_sample_id"] for r in recs])
        else:
            data = c.add_biosamples(recs, partial=a.partial)
    elif a.what == "library":
        lib = recs[0] if recs else {}
        lib.update(_flags(a, ["library-name", "library-layout-config", "library-seq-kit",
                              "library-seq-protocol", "library-layout-insert-length",
                              "library-layout-read-length", "force-biosamples"]))
        for bid, source, sel, strat, proto, primers in a.biosample or []:
            lib.setdefault("biosamples", []).append({
                "central_sample_id": bid, "library_source": source, "library_selection": sel,
                "library_strategy": strat, "library_protocol": proto, "library_primers": primers})
        if not lib.get("library_name"):
            raise UsageError("put library needs --library-name (or a --file with library_name)")
        data = c.add_library(lib)
    elif a.what == "sequencing":
        seq = recs[0] if recs else {}
        run = _flags(a, list(RUN_FLAGS))
        seq.update(_flags(a, ["library-name", "run-group"]))
        if run:
            seq.setdefault("runs", []).append(run)
        if not seq.get("library_name") or not seq.get("runs"):
            raise UsageError("put sequencing needs --library-name and --run-name (or a --file)")
        data = c.add_sequencing(seq)
    else:
        metrics: dict[str, dict[str, Any]] = dict(recs[0]) if recs else {}
        for ns, values in metrics_from_triples(a.metric or []).items():
            metrics.setdefault(ns, {}).update(values)
        if not metrics:
            raise UsageError("put metric needs --metric NAMESPACE KEY VALUE or --file")
        data = c.add_metrics(a.artifact, metrics, artifact_path=a.artifact_path)
    c.close()
    _emit(a, {k: data.get(k) for k in ("success", "new", "updated", "ignored", "warnings", "messages")})
    return _report_skipped(a, data)


def _report_skipped(a: argparse.Namespace, data: dict[str, Any]) -> int:
    """Majora accepted the call; say on stderr, one line each, what it ignored or warned about. Exit 65
    with --strict if there was anything."""
    from .answers import answer_notes, skipped_anything

    for note in answer_notes(data):
        print(f"{PROG}: warning: {note}", file=sys.stderr)
    if a.strict and skipped_anything(data):
        print(f"{PROG}: error: Majora ignored part of the call or warned (--strict)", file=sys.stderr)
        return EX_DATAERR
    return 0


def cmd_completion(a: argparse.Namespace) -> int:
    """argcomplete's script for ``a.shell``: the shell asks this program (its parser) for candidates."""
    import argcomplete

    sys.stdout.write(argcomplete.shellcode([PROG], shell=a.shell))
    return 0


def _complete() -> None:
    """Answer the shell's completion request, if this is one (argcomplete exits here); else nothing."""
    import os

    if "_ARGCOMPLETE" in os.environ:
        import argcomplete

        argcomplete.autocomplete(build_parser())


def _fail(argv: list[str], message: str, code: int) -> int:
    """An error as one line on stderr, or with ``--json`` as one JSON object."""
    if "--json" in argv:
        print(json.dumps({"error": message, "exit_code": code}), file=sys.stderr)
    else:
        print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def cmd_doctor(a: argparse.Namespace) -> int:
    from .credentials import CredentialManager
    from .locking import lock_test

    s = _settings(a, require=False)
    report: dict[str, Any] = {"config": s.describe(), "config_file": str(s.config_file or "-"),
                              "ocarina_file": str(s.ocarina_file or "-")}
    missing = [k for k in ("domain", "user") if not getattr(s, k)]
    if s.oauth:
        missing += [k for k in ("client_id", "client_secret") if not getattr(s, k)]
    report["missing"] = missing
    mgr = CredentialManager(s)
    report["token"] = mgr.status()
    if a.lock_test:
        report["lock_test"] = lock_test(mgr.lock, a.seconds)
    if a.json:
        _emit(a, report)
    else:
        print("configuration (highest source wins):")
        for k, v in report["config"].items():
            if isinstance(v, dict):
                print(f"  {k:14} {v['value']!s:50} [{v['source']}]")
        print(f"  mode {report['config']['mode']}, home {report['config']['home']}, profile "
              f"{report['config']['profile']}")
        if missing:
            print(f"  MISSING: {', '.join(missing)}")
        print("token:")
        for k, v in report["token"].items():
            print(f"  {k}: {v}")
        if a.lock_test:
            lt = report["lock_test"]
            print(f"lock test: {lt['acquisitions']} acquisitions here, {lt['total_intervals']} in "
                  f"{lt['log']} "
                  f"from {len(lt['holders'])} holder(s); overlaps: {lt['overlaps']}")
    bad = bool(missing) or (a.lock_test and report["lock_test"]["overlaps"])
    return 78 if missing else (70 if bad else 0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``snakemake-majora``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["server"]:
        try:
            from majora_lite.ops.cli import main as server_main
        except ImportError as exc:
            print(f"{PROG}: error: majora-lite needs the server extra: pip install "
                  f"'snakemake-storage-plugin-majora[server]' ({exc.name})", file=sys.stderr)
            return 69
        return int(server_main(argv[1:]) or 0)
    if argv[:1] == ["ocarina"]:
        from .ocarina import main as ocarina_main

        return ocarina_main(argv[1:])
    _complete()
    verbose = "-v" in argv or "--verbose" in argv
    try:
        a = build_parser().parse_args(argv)
        _setup_logging(a.verbose, a.quiet)
        handler = {"login": cmd_login, "logout": cmd_logout, "refresh": cmd_refresh, "status": cmd_status,
                   "token": cmd_token, "get": cmd_get, "put": cmd_put, "doctor": cmd_doctor,
                   "completion": cmd_completion}[a.cmd]
        return handler(a)
    except MajoraError as exc:
        from .logsafe import redact

        return _fail(argv, redact(str(exc)), exc.exit_code)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from .logsafe import redact

        if verbose:
            import traceback

            print(redact(traceback.format_exc()), file=sys.stderr)
        return _fail(argv, f"unexpected {type(exc).__name__}: {redact(str(exc))} (run with -v for details)",
                     EX_SOFTWARE)


if __name__ == "__main__":
    sys.exit(main())
