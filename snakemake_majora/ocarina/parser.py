"""Ocarina 1.0.0's command line, as argparse: the same commands, options, destinations and defaults.

The attribute names matter: like Ocarina, several commands send the whole parsed namespace as the request
body, so a renamed option would change what Majora receives.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable, Sequence
from typing import Any

#: The Ocarina release whose command line this reproduces.
OCARINA_VERSION = "1.0.0"


def _iso_date(text: str) -> str:
    """A ``YYYY-MM-DD`` date, checked (Ocarina parses these with strptime)."""
    return datetime.datetime.strptime(text, "%Y-%m-%d").strftime("%Y-%m-%d")


def _partial_required(argv: Sequence[str]) -> bool:
    # Ocarina decides before parsing: with --partial/--update anywhere, the add-only fields become optional.
    return "--partial" not in argv and "--update" not in argv


def _put_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--metadata", action="append", nargs=3, metavar=("tag", "key", "value"))
    p.add_argument("--metric", action="append", nargs=3, metavar=("tag", "key", "value"))
    p.add_argument("--sudo-as", required=False)
    p.add_argument("--partial", "--update", action="store_true")


def _get_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task-wait-attempts", type=int, default=10,
                   help="number of attempts to query a task from the task endpoint [10]")
    p.add_argument("--task-wait-minutes", type=int, default=1,
                   help="minutes to wait between task fetching attempts [1]")
    p.add_argument("--task-wait", action="store_true", help="wait for the result of Majora's task")
    p.add_argument("--task-id", help="request the result of this task from Majora's task endpoint")
    p.add_argument("--task-del", action="store_true",
                   help="delete the task result if this command finishes successfully")


def build_parser(argv: Sequence[str], handlers: dict[str, Callable[..., Any]],
                 prog: str) -> argparse.ArgumentParser:
    """The parser tree; ``handlers`` maps each command to the function stored as ``func``."""
    req = _partial_required(argv)
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("-q", "--quiet", action="store_true", default=False, help="suppress everything")
    p.add_argument("--no-banner", action="store_true", help="no greeting on stderr")
    p.add_argument("--env", action="store_true", help="use environment variables instead of ~/.ocarina")
    p.add_argument("--angry", action="store_true", default=False, help="exit 1 if the API returns errors > 0")
    p.add_argument("-v", "--version", action="version",
                   version=f"ocarina v{OCARINA_VERSION} (snakemake-majora)")
    p.add_argument("--oauth", action="store_true", default=False, help="use OAuth (the shared credential)")
    p.add_argument("--stream", action="store_true", default=False, help="accepted; results are not streamed")
    p.add_argument("--boring", action="store_true", default=False, help="plain printing")
    p.add_argument("--print-config", action="store_true", default=False,
                   help="show the configuration and exit")
    p.add_argument("--profile", default=None, help="configuration profile (profile.<name> in ~/.ocarina)")
    actions = p.add_subparsers()

    def sub(parent: argparse._SubParsersAction, name: str,
            shared: Callable[[argparse.ArgumentParser], None] | None, func: str | None,
            help_: str | None = None) -> argparse.ArgumentParser:
        child = parent.add_parser(name, help=help_)
        if shared:
            shared(child)
        if func:
            child.set_defaults(func=handlers[func])
        return child

    # empty biosample
    empty = actions.add_parser("empty")
    empty.add_argument("--sudo-as", required=False)
    eb = sub(empty.add_subparsers(title="artifact"), "biosample", None, "empty_biosample",
             "force one or more biosamples via the CLI")
    eb.add_argument("--sudo-as", required=False)
    one_or_many = eb.add_mutually_exclusive_group(required=True)
    one_or_many.add_argument("--ids", nargs="+")
    one_or_many.add_argument("--central-sample-id")
    eb.add_argument("--sender-sample-id", "--local-sample-id")
    eb.add_argument("-m", "--metadata", action="append", nargs=3, metavar=("tag", "key", "value"))

    info = actions.add_parser("info")
    info.add_argument("query")
    info.add_argument("--raw", action="store_true", help="print the raw answer")
    info.set_defaults(func=handlers["info"])

    # put ...
    put = actions.add_parser("put")
    _put_options(put)
    puts = put.add_subparsers(title="actions")

    bs = sub(puts, "biosample", _put_options, "put_biosample", "add a single biosample")
    bs.add_argument("--adm1", required=req)
    bs.add_argument("--central-sample-id", required=True)
    bs.add_argument("--is-surveillance", choices={"Y", "N"}, required=req)
    when = bs.add_mutually_exclusive_group(required=req)
    when.add_argument("--collection-date")
    when.add_argument("--received-date")
    for opt in ("source-age", "source-sex", "adm2", "adm2-private", "biosample-source-id",
                "root-biosample-source-id", "collecting-org", "root-sample-id", "sample-type-collected",
                "sample-type-received"):
        bs.add_argument(f"--{opt}")
    bs.add_argument("--sender-sample-id", "--local-sample-id")
    bs.add_argument("--swab-site")
    bs.add_argument("--collection-pillar", type=int)

    lib = sub(puts, "library", _put_options, "put_library", "add a sequencing library")
    which = lib.add_mutually_exclusive_group(required=True)
    which.add_argument("--biosamples", nargs="+")
    which.add_argument("--biosample", action="append", nargs=6, metavar=(
        "central_sample_id", "library_source", "library_selection", "library_strategy", "library_protocol",
        "library_primers"))
    lib.add_argument("--apply-all-library", nargs=5, metavar=(
        "library_source", "library_selection", "library_strategy", "library_protocol", "library_primers"))
    for opt in ("library-layout-config", "library-name", "library-seq-kit", "library-seq-protocol"):
        lib.add_argument(f"--{opt}", required=True)
    lib.add_argument("--library-layout-insert-length")
    lib.add_argument("--library-layout-read-length")
    lib.add_argument("--sequencing-org-received-date", type=_iso_date)
    lib.add_argument("--force-biosamples", action="store_true")

    seq = sub(puts, "sequencing", _put_options, "put_sequencing", "add a single sequencing run")
    seq.add_argument("--library-name", required=True)
    seq.add_argument("--run-group", required=False)
    run_id = seq.add_mutually_exclusive_group(required=True)
    run_id.add_argument("--sequencing-id")
    run_id.add_argument("--run-name")
    seq.add_argument("--instrument-make", required=True)
    seq.add_argument("--instrument-model", required=True)
    for opt in ("flowcell-type", "flowcell-id", "start-time", "end-time", "bioinfo-pipe-name",
                "bioinfo-pipe-version"):
        seq.add_argument(f"--{opt}")

    fil = sub(puts, "file", _put_options, "put_file", "register a local file (digital resource)")
    fil.add_argument("--bridge-artifact", "--biosample", required=False)
    fil.add_argument("--source-artifact", "--source-file", required=False, nargs="+")
    fil.add_argument("--publish-group", required=False)
    fil.add_argument("--source-group", required=False, nargs="+")
    pipe = fil.add_mutually_exclusive_group(required=True)
    pipe.add_argument("--pipeline", nargs=4,
                      metavar=["pipe_hook", "pipe_category", "pipe_name", "pipe_version"])
    pipe.add_argument("--pipeline-hook")
    fil.add_argument("--node", required=False)
    fil.add_argument("--path", required=True)
    fil.add_argument("--type", required=True)
    fil.add_argument("--i-have-bad-files", action="store_true")
    fil.add_argument("--full-path", action="store_true")
    fil.add_argument("--no-user", action="store_true")
    fil.add_argument("--artifact-uuid")

    tag = sub(puts, "tag", _put_options, "put_tag", "tag an artifact, group or process with metadata")
    target = tag.add_mutually_exclusive_group(required=True)
    for opt in ("artifact", "group", "process"):
        target.add_argument(f"--{opt}")

    met = sub(puts, "metric", _put_options, "put_metric", "add metrics to an artifact")
    target = met.add_mutually_exclusive_group(required=True)
    target.add_argument("--artifact")
    target.add_argument("--artifact-path")

    qc = sub(puts, "qc", _put_options, "put_qc", "apply a QC test to a PAG")
    qc.add_argument("--publish-group", required=True)
    qc.add_argument("--test-name", required=True)
    qc.add_argument("--test-version", type=int, required=True)

    pub = sub(puts, "publish", _put_options, "put_publish", "add a public accession to a PAG")
    pub.add_argument("--publish-group", required=True)
    pub.add_argument("--contains", action="store_true")
    pub.add_argument("--service", required=True)
    for opt in ("accession", "accession2", "accession3"):
        pub.add_argument(f"--{opt}", required=False)
    pub.add_argument("--public", action="store_true")
    pub.add_argument("--public-date", type=_iso_date)
    pub.add_argument("--submitted", action="store_true")

    lst = actions.add_parser("list")
    lst.add_argument("path", help="node://absolute/path/to/artifact/or/group")
    lst.add_argument("--sep", default="/", required=False)
    lst.add_argument("--force", "-F", action="store_true")
    lst.set_defaults(func=handlers["list"])

    # get ...
    get = actions.add_parser("get")
    _get_options(get)
    gets = get.add_subparsers(title="actions")
    gb = sub(gets, "biosample", _get_options, "get_biosample", "fetch a biosample")
    gb.add_argument("--central-sample-id", required=True)
    gv = sub(gets, "biosample-validity", _get_options, "get_biosample_validity", "fetch biosamples status")
    gv.add_argument("--biosamples", nargs="+", required=True)
    gv.add_argument("--tsv", action="store_true")
    gs = sub(gets, "sequencing", _get_options, "get_sequencing", "fetch sequencing runs")
    gs.add_argument("--run-name", required=True, nargs="+")
    gs.add_argument("--tsv", action="store_true")
    gs.add_argument("--tsv-show-dummy", action="store_true")
    gs.add_argument("--faster", action="store_true")
    gp = sub(gets, "pag", _get_options, "get_pag", "PAGs by QC test")
    gp.add_argument("--test-name", required=True)
    for flag in ("pass", "fail", "service-name", "public", "private"):
        gp.add_argument(f"--{flag}", **({} if flag == "service-name" else {"action": "store_true"}))
    for opt in ("published-before", "published-after", "suppressed-after"):
        gp.add_argument(f"--{opt}", type=_iso_date)
    gp.add_argument("--ofield", nargs=3, metavar=("field", "as", "default"), action="append")
    gp.add_argument("--odelimiter", default="\t")
    gp.add_argument("--ffield-true", nargs=1, metavar=("field",), action="append")
    gp.add_argument("--mode", default="")
    gp.add_argument("--output-header", action="store_true", help="add a header (pagfiles mode only)")
    gsum = sub(gets, "summary", _get_options, "get_summary", "summary metrics")
    gsum.add_argument("--gte-date")
    gsum.add_argument("--md", action="store_true")
    gos = sub(gets, "outbound-summary", _get_options, "get_outbound_summary", "outbound summary metrics")
    gos.add_argument("--service", required=True)
    gos.add_argument("--user", required=False)
    gos.add_argument("--gte-date", required=True)
    gos.add_argument("--md", action="store_true")
    gos.add_argument("--md-from-wave", type=int, default=1)
    gos.add_argument("--md-skip-zero", action="store_true")
    gd = sub(gets, "dataview", _get_options, "get_dataview", "data through a dataview")
    gd.add_argument("--mdv", required=True, help="code name of the dataview")
    gd.add_argument("--output", "-o", default="-", help="output location [default: stdout]")
    gd.add_argument("--output-table", action="store_true")
    gd.add_argument("--output-table-delimiter", default="\t")

    dl = actions.add_parser("del")
    dt = sub(dl.add_subparsers(title="actions"), "task", None, "del_task", "delete the result of a task")
    dt.add_argument("--task-id", required=True)

    oa = actions.add_parser("oauth")
    oas = oa.add_subparsers(title="actions")
    orf = sub(oas, "refresh", None, "oauth_refresh", "refresh the shared access token")
    orf.add_argument("--scopes", required=False, nargs="+")
    oau = sub(oas, "authorise", None, "oauth_authorise", "refresh the shared token (any endpoint)")
    oau.add_argument("--endpoint", required=True)

    pag = actions.add_parser("pag")
    ps = sub(pag.add_subparsers(title="actions"), "suppress", None, "pag_suppress", "suppress PAGs")
    ps.add_argument("--publish-group", nargs="+", required=True)
    ps.add_argument("--reason", required=True)
    return p
