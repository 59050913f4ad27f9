"""``snakemake-majora server ...`` / ``python -m majora_lite ...``: majora-lite's admin CLI."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path

from majora_lite.server.settings import DEFAULT_MAX_ACTIVE

EX_USAGE, EX_NOINPUT, EX_UNAVAILABLE, EX_SOFTWARE, EX_CONFIG = 64, 66, 69, 70, 78


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 64 (sysexits), not argparse's 2
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


PASSWORD_HELP = "the password, or - to read it from stdin (keeps it off the command line)"


def _faults_arg(value: str):
    try:
        return json.loads(value)
    except ValueError:
        raise argparse.ArgumentTypeError("--faults must be JSON (a list of fault rules)") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="snakemake-majora server", description="majora-lite: a local Majora-compatible server")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    def with_dir(sp):
        sp.add_argument(
            "--data-dir", required=True, type=Path, help="data directory (SQLite database lives here)"
        )
        return sp

    s = with_dir(sub.add_parser("start", help="serve majora-lite until SIGTERM/SIGINT"))
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0, help="0 picks a free port")
    s.add_argument("--strict", action="store_true", help="refresh-token reuse protection (family revocation)")
    s.add_argument("--access-token-lifetime", type=int, default=36000, metavar="SECONDS")
    s.add_argument("--grace", type=int, default=0, metavar="SECONDS", help="refresh-token grace period")
    s.add_argument("--threads", type=int, default=16, help="waitress threads (connections served at once)")
    s.add_argument(
        "--max-active",
        type=int,
        default=DEFAULT_MAX_ACTIVE,
        metavar="N",
        help=f"requests running inside Django at once (default {DEFAULT_MAX_ACTIVE}; more only adds GIL "
        "contention in one process)",
    )
    s.add_argument("--faults", type=_faults_arg, default=None, metavar="JSON")
    s.add_argument(
        "--zana",
        metavar="PREFIX",
        default=None,
        help="issue anonymous_sample_ids PREFIX-XXXXXXXX on biosample add/update as Majora's ZANA "
        "(default: disabled, every add/update warns as Majora's recorded deployment)",
    )

    s = with_dir(sub.add_parser("adduser", help="create or update a user"))
    s.add_argument("--username", required=True)
    s.add_argument("--password", required=True, help=PASSWORD_HELP)
    s.add_argument("--org", default="HOOT")
    s.add_argument("--perm", action="append", default=[], metavar="majora2.CODENAME")
    s.add_argument("--all-perms", action="store_true")
    s.add_argument(
        "--totp",
        action="store_true",
        help="give the user a TOTP device (Majora refuses tokens without one); prints its secret once",
    )

    s = with_dir(sub.add_parser("load-dataview", help="load dataview (MDV) definitions in Majora's format"))
    s.add_argument("file", type=Path, nargs="+", help="definition files (as Majora's data/mdv/*)")

    s = with_dir(sub.add_parser("load-orgs", help="load organisations from Majora's orgs file format"))
    s.add_argument("file", type=Path, nargs="?", help="name<TAB>code lines (default: the shipped list)")

    s = with_dir(sub.add_parser("addapp", help="register a confidential OAuth client"))
    s.add_argument("--name", required=True)
    s.add_argument("--redirect-uri", action="append", default=[], metavar="URL")

    s = with_dir(sub.add_parser("apikey", help="issue a legacy API key"))
    s.add_argument("--username", required=True)
    s.add_argument("--days", type=float, default=3)
    s.add_argument(
        "--key-permission",
        default=None,
        metavar="majora2.CODENAME",
        help="bind the key to one permission (for views such as pag/qc/get)",
    )

    s = with_dir(sub.add_parser("grant-dataview", help="grant a user a dataview (MDV)"))
    s.add_argument("--username", required=True)
    s.add_argument("--mdv", required=True)
    s.add_argument("--days", type=float, default=30)

    s = with_dir(sub.add_parser("load-qc", help="load QC test definitions (Majora's .qc format)"))
    s.add_argument("files", nargs="*", metavar="FILE", help=".qc files, or directories of them")
    s.add_argument("--shipped", action="store_true", help="also load Majora's published definitions")

    s = with_dir(sub.add_parser("add-node", help="add a digital resource node and hard-path directories"))
    s.add_argument("name", help="node name (Majora uses the institute code when file/add names none)")
    s.add_argument("--path", action="append", default=[], metavar="DIR", help="a directory, e.g. /data/run1")

    s = with_dir(sub.add_parser("seed", help="create deterministic synthetic data"))
    s.add_argument("--biosamples", type=int, default=200)
    s.add_argument(
        "--pags",
        type=int,
        default=None,
        metavar="N",
        help="bulk seed (production size, bulk inserts): N of the biosamples published as PAGs with "
        "libraries, runs, consensus files, metrics and QC",
    )
    s.add_argument(
        "--orphan-pags",
        type=int,
        default=0,
        metavar="K",
        help="with --pags: K of the PAGs published without a library or sequencing run (Majora's "
        "default-mode pag/qc/get task fails on such a PAG)",
    )
    s.add_argument(
        "--prefix", default="", help="with --pags: an ID prefix, to add a second bulk seed to a server"
    )
    s.add_argument("--seed", type=int, default=1)
    s.add_argument(
        "--anchor", default=None, metavar="YYYY-MM-DD", help="date the data is relative to (today)"
    )

    s = with_dir(
        sub.add_parser("setup", help="batch of orgs/seed/users/dataviews/apps/apikeys/grants from JSON")
    )
    s.add_argument(
        "--spec", required=True, help='JSON {"seed": {}, "users": [], "apps": [], ...} or - (stdin)'
    )

    s = sub.add_parser(
        "dev",
        help="a local Majora for your own workflows: seed (once), start in the background on a stable "
        "port, log the client in; prints the SNAKEMAKE_MAJORA_HOME line to use",
    )
    s.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data directory (default $XDG_DATA_HOME/majora-lite/dev); the client's home is DIR/home",
    )
    s.add_argument("--port", type=int, default=None, help="port (default: the one remembered in the data "
                   "dir, else a free one, then remembered)")
    s.add_argument("--stop", action="store_true", help="stop the server started from this data dir")

    s = with_dir(sub.add_parser("faults", help="show (or --set/--clear) a running server's fault rules"))
    g = s.add_mutually_exclusive_group()
    g.add_argument("--set", type=_faults_arg, default=None, metavar="JSON", help="replace the rules")
    g.add_argument("--clear", action="store_true", help="remove every rule")
    s = with_dir(sub.add_parser("counters", help="show (or --reset) a running server's request counters"))
    s.add_argument("--reset", action="store_true", help="reset them to zero")

    s = sub.add_parser("approve", help="log in and approve an authorize URL; prints the callback URL")
    s.add_argument("--url", required=True, help="majora-lite base URL")
    s.add_argument("--username", required=True)
    s.add_argument("--password", required=True, help=PASSWORD_HELP)
    s.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the server's data directory: approve reads the user's TOTP device there to pass the "
        "two-factor step",
    )
    s.add_argument("authorize_url")
    return p


def _setup_logging() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # Request logs could carry URLs with codes; oauthlib debug logs carry tokens: keep them quiet.
    quiet = (
        "django.request",
        "django.security",
        "oauthlib",
        "requests_oauthlib",
        "oauth2_provider",
        "waitress.queue",
    )
    for name in quiet:
        logging.getLogger(name).setLevel(logging.ERROR)


def _print(obj) -> None:
    print(json.dumps(obj, indent=None, sort_keys=False), flush=True)


def run_setup(spec: dict) -> dict:
    """Apply a batch spec in one process (fast path for tests and the harness)."""
    from majora_lite.ops import admin, dataview_defs, seed

    out: dict = {}
    if spec.get("orgs_file") or spec.get("orgs"):
        out["orgs"] = admin.load_orgs(spec.get("orgs_file") or admin.shipped_data("orgs.txt"))
    if spec.get("seed") is not None:
        s = spec["seed"] or {}
        anchor = dt.date.fromisoformat(s["anchor"]) if s.get("anchor") else None
        out["seed"] = seed.seed(int(s.get("biosamples", 200)), int(s.get("seed", 1)), anchor)
    if spec.get("bulk_seed") is not None:
        from majora_lite.ops.bulk_seed import bulk_seed

        b = spec["bulk_seed"]
        out["bulk_seed"] = bulk_seed(
            int(b.get("biosamples", 0)),
            int(b.get("pags", 0)),
            orphan_pags=int(b.get("orphan_pags", 0)),
            seed_value=int(b.get("seed", 1)),
            anchor=dt.date.fromisoformat(b["anchor"]) if b.get("anchor") else None,
            prefix=str(b.get("prefix", "")),
        )
    out["users"] = [
        admin.add_user(
            u["username"],
            u["password"],
            org=u.get("org", "HOOT"),
            perms=u.get("perms"),
            all_perms=bool(u.get("all_perms")),
            totp=bool(u.get("totp")),
        )
        for u in spec.get("users", [])
    ]
    if spec.get("dataviews_files"):
        out["dataviews_files"] = [dataview_defs.load(path) for path in spec["dataviews_files"]]
    out["agreements"] = [
        dataview_defs.sign_agreement(a["username"], a["slug"]) for a in spec.get("agreements", [])
    ]
    out["apps"] = [admin.add_app(a["name"], a.get("redirect_uris")) for a in spec.get("apps", [])]
    out["tokens"] = [
        admin.issue_token(t["username"], t.get("scopes", "all"), expired=bool(t.get("expired")))
        for t in spec.get("tokens", [])
    ]
    out["apikeys"] = [
        admin.api_key(k["username"], float(k.get("days", 3)), k.get("permission"))
        for k in spec.get("apikeys", [])
    ]
    out["dataviews"] = [
        admin.grant_dataview(g["username"], g["mdv"], float(g.get("days", 30)))
        for g in spec.get("dataviews", [])
    ]
    if spec.get("qc") is not None:
        from majora_lite.ops import qc_defs

        out["qc"] = qc_defs.load_qc(qc_defs.expand_paths(spec["qc"]))
    if spec.get("nodes") is not None:
        from majora_lite.api import files

        out["nodes"] = [files.add_node(n["name"], n.get("paths", [])) for n in spec["nodes"]]
    return out


def _admin_call(args: argparse.Namespace) -> int:
    """``faults`` / ``counters``: the running server's ``/_lite/*`` endpoints, with its admin secret."""
    from majora_lite.ops.lite_admin import LiteAdminError, call

    try:
        if args.cmd == "faults":
            if args.set is not None:
                out = call(args.data_dir, "POST", "faults", args.set)
            else:
                out = call(args.data_dir, "DELETE" if args.clear else "GET", "faults")
        else:
            out = call(args.data_dir, "POST" if args.reset else "GET",
                       "counters/reset" if args.reset else "counters")
    except LiteAdminError as exc:
        print(f"majora-lite {args.cmd}: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    _print(out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns a sysexits-style status."""
    args = build_parser().parse_args(argv)
    # Everything majora-lite writes (database, journals, keys, server.json) is for this user only, but
    # only while it runs: a caller in the same process (tests, the harness) keeps its own umask, and so
    # does every process it starts afterwards.
    old_umask = os.umask(0o077)
    try:
        return _run(args)
    finally:
        os.umask(old_umask)


def _run(args: argparse.Namespace) -> int:
    """One command, under majora-lite's umask."""
    if getattr(args, "password", None) == "-":
        args.password = sys.stdin.readline().rstrip("\n")
    _setup_logging()
    if args.cmd == "approve":
        from majora_lite.ops.approve import ApproveError, approve

        try:
            callback = approve(
                args.url, args.username, args.password, args.authorize_url, data_dir=args.data_dir
            )
            print(callback, flush=True)
        except ApproveError as exc:
            print(f"majora-lite approve: {exc}", file=sys.stderr)
            return exc.code
        return 0

    if args.cmd == "dev":
        from majora_lite.ops import dev

        if args.port is not None and not 0 < args.port < 65536:
            print("majora-lite: --port must be between 1 and 65535", file=sys.stderr)
            return EX_USAGE
        return dev.run(args.data_dir, args.port, args.stop)

    if args.cmd in ("faults", "counters"):
        return _admin_call(args)

    from majora_lite.server import settings

    opts = settings.ServerOptions()
    if args.cmd == "start":
        if args.threads < 1 or args.max_active < 1 or args.access_token_lifetime < 1 or args.grace < 0:
            print(
                "majora-lite: --threads, --max-active and --access-token-lifetime must be >= 1, --grace >= 0",
                file=sys.stderr,
            )
            return EX_USAGE
        if args.zana is not None and not (args.zana.isalnum() and args.zana.isascii()):
            print("majora-lite: --zana PREFIX must be letters and digits (no '-')", file=sys.stderr)
            return EX_USAGE
        opts = settings.ServerOptions(
            args.access_token_lifetime, args.grace, args.strict, zana=args.zana, host=args.host
        )
    try:
        data_dir = settings.configure(args.data_dir, opts)
        settings.migrate(data_dir)
        if args.cmd == "start":
            settings.admin_secret(data_dir)  # made (or checked) before serving, so errors name the file
    except OSError as exc:
        print(f"majora-lite: cannot use data directory {args.data_dir}: {exc.strerror}", file=sys.stderr)
        return EX_CONFIG

    from majora_lite.ops import admin

    try:
        if args.cmd == "start":
            from majora_lite.server.faults import FAULTS, FaultRuleError
            from majora_lite.server.serve import serve

            if args.faults is not None:
                try:
                    FAULTS.replace(args.faults)
                except FaultRuleError as exc:
                    print(f"majora-lite: invalid --faults: {exc}", file=sys.stderr)
                    return EX_USAGE
            try:
                return serve(data_dir, args.host, args.port, args.threads, args.max_active)
            except OSError as exc:
                print(
                    f"majora-lite: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
                )
                return EX_UNAVAILABLE
        if args.cmd == "adduser":
            _print(
                admin.add_user(
                    args.username,
                    args.password,
                    org=args.org,
                    perms=args.perm,
                    all_perms=args.all_perms,
                    totp=args.totp,
                )
            )
        elif args.cmd == "load-dataview":
            from majora_lite.ops import dataview_defs

            _print([dataview_defs.load(path) for path in args.file])
        elif args.cmd == "load-orgs":
            _print(admin.load_orgs(args.file or admin.shipped_data("orgs.txt")))
        elif args.cmd == "addapp":
            _print(admin.add_app(args.name, args.redirect_uri or None))
        elif args.cmd == "apikey":
            _print(admin.api_key(args.username, args.days, args.key_permission))
        elif args.cmd == "grant-dataview":
            _print(admin.grant_dataview(args.username, args.mdv, args.days))
        elif args.cmd == "load-qc":
            from majora_lite.ops import qc_defs

            if not args.files and not args.shipped:
                print("majora-lite load-qc: give .qc files or --shipped", file=sys.stderr)
                return EX_USAGE
            paths = qc_defs.expand_paths(args.files) + (qc_defs.shipped_qc_files() if args.shipped else [])
            _print(qc_defs.load_qc(paths))
        elif args.cmd == "add-node":
            from majora_lite.api import files

            _print(files.add_node(args.name, args.path))
        elif args.cmd == "seed":
            from majora_lite.ops.seed import seed

            try:
                anchor = dt.date.fromisoformat(args.anchor) if args.anchor else None
            except ValueError:
                print("majora-lite: --anchor must be YYYY-MM-DD", file=sys.stderr)
                return EX_USAGE
            if args.pags is None:
                _print(seed(args.biosamples, args.seed, anchor))
            else:
                from majora_lite.ops.bulk_seed import bulk_seed

                if not 0 <= args.orphan_pags <= args.pags <= args.biosamples:
                    print(
                        "majora-lite seed: need 0 <= --orphan-pags <= --pags <= --biosamples", file=sys.stderr
                    )
                    return EX_USAGE
                _print(
                    bulk_seed(
                        args.biosamples,
                        args.pags,
                        orphan_pags=args.orphan_pags,
                        seed_value=args.seed,
                        anchor=anchor,
                        prefix=args.prefix,
                    )
                )
        elif args.cmd == "setup":
            try:
                spec = json.loads(sys.stdin.read() if args.spec == "-" else args.spec)
                if not isinstance(spec, dict):
                    raise ValueError
            except ValueError:
                print("majora-lite: --spec must be a JSON object", file=sys.stderr)
                return EX_USAGE
            _print(run_setup(spec))
    except admin.AdminError as exc:
        print(f"majora-lite {args.cmd}: {exc}", file=sys.stderr)
        return exc.code
    except (KeyError, TypeError, ValueError) as exc:
        print(f"majora-lite {args.cmd}: bad input: {exc}", file=sys.stderr)
        return EX_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
