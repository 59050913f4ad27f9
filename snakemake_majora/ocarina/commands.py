"""The handlers of ``snakemake-majora ocarina``: one per Ocarina command, same bodies, same stdout."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Any

from . import emit as ep
from . import files, tables
from .emit import Emitter, stop

RUN_FIELDS = ("instrument_make", "instrument_model", "run_name", "bioinfo_pipe_name", "bioinfo_pipe_version",
              "end_time", "flowcell_id", "flowcell_type", "sequencing_id", "start_time")
PIPE_FIELDS = ("pipe_hook", "pipe_kind", "pipe_name", "pipe_version")


def _body(args: argparse.Namespace) -> dict[str, Any]:
    # Like Ocarina, several commands send the parsed namespace itself (and later reads see its changes).
    return vars(args)


def _prune_null(d: dict[str, Any]) -> dict[str, Any]:
    """``--partial``: drop unset fields; the value ``_null_`` asks Majora to clear a field."""
    return {k: (None if v == "_null_" else v) for k, v in d.items() if v is not None}


def empty_biosample(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    if args.ids:
        if metadata:
            sys.stderr.write("[WARN] --metadata is not compatible with --ids and will be ignored\n")
        if args.sender_sample_id:
            print("Cannot provide --sender-sample-id with --ids")
            stop(64)
        em.emit(ep.BIOSAMPLE_ADDEMPTY, {"biosamples": args.ids})
        return
    em.emit(ep.BIOSAMPLE_ADDEMPTY, {"biosamples": [{
        "central_sample_id": args.central_sample_id, "sender_sample_id": args.sender_sample_id,
        "metadata": metadata or {}}]})


def put_biosample(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    record = _body(args)
    del record["metric"]
    record["metadata"], record["metrics"] = metadata, metrics
    if record["partial"]:
        em.emit(ep.BIOSAMPLE_UPDATE, {"biosamples": [_prune_null(record)]})
    else:
        em.emit(ep.BIOSAMPLE_ADD, {"biosamples": [record]})


def put_library(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    received = args.sequencing_org_received_date
    if received:
        sys.stderr.write("[WARN] --sequencing-org-received-date is applied to every biosample of this "
                         "library.\n")
    columns = ("library_source", "library_selection", "library_strategy", "library_protocol",
               "library_primers")
    if args.biosample:
        rows = [(entry[0], entry[1:]) for entry in args.biosample]
    else:
        if not args.apply_all_library:
            print("Use --apply-all-library with --biosamples")
            stop(64)
        rows = [(sid, args.apply_all_library) for sid in args.biosamples]
    biosamples = [{"central_sample_id": sid, **dict(zip(columns, values, strict=True)),
                   "sequencing_org_received_date": received} for sid, values in rows]
    em.emit(ep.LIBRARY_ADD, {
        "biosamples": biosamples,
        "library_layout_config": args.library_layout_config,
        "library_layout_insert_length": args.library_layout_insert_length,
        "library_layout_read_length": args.library_layout_read_length,
        "library_name": args.library_name,
        "library_seq_kit": args.library_seq_kit,
        "library_seq_protocol": args.library_seq_protocol,
        "metadata": metadata or {},
    })


def put_sequencing(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    run = {k: getattr(args, k) for k in RUN_FIELDS}
    em.emit(ep.SEQUENCING_ADD, {"library_name": args.library_name, "run_group": args.run_group,
                                "runs": [run]})


def put_file(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    path = os.path.abspath(args.path)
    if not os.path.exists(path):
        print("Path does not exist")
        stop(65)
    if not os.path.isfile(path):
        print("Path does not appear to be a file")
        stop(65)
    digest, size = files.md5(path), os.path.getsize(path)
    name = os.path.basename(path)
    extension = name.split(".")[-1]
    report = files.check(path)
    if report:
        for problem in report.problems:
            print(f"[WARN] {name} {problem}")
        metadata[report.type_name] = report.metadata
        extension = report.extension
        if report.problems and not args.i_have_bad_files:
            # Ocarina's own words, kept: scripts may look for them on stdout.
            print("[FAIL] Problems with your file were detected. If you don't care, run this command again "
                  "with --i-have-bad-files. I'll know it was you, though.")
            stop(65)
    parts = path.split(os.path.sep)
    if not args.full_path:
        # Majora receives the file's directory and name, under the user unless --no-user, below "null".
        parts = ["null"] + ([] if args.no_user else [em.client.settings.user]) + parts[-2:]
    sent_path = os.path.sep.join(parts)
    body: dict[str, Any] = {
        "node_name": args.node, "path": sent_path, "sep": os.path.sep, "current_fext": extension,
        "current_name": os.path.basename(sent_path), "current_hash": digest, "current_size": size,
        "resource_type": args.type, "metadata": metadata, "publish_group": args.publish_group,
        "source_group": args.source_group, "source_artifact": args.source_artifact,
        "bridge_artifact": args.bridge_artifact, "artifact_uuid": args.artifact_uuid,
    }
    if args.pipeline:
        body.update(dict(zip(PIPE_FIELDS, args.pipeline, strict=True)))
    elif args.pipeline_hook:
        body["pipe_hook"] = args.pipeline_hook
    em.emit(ep.FILE_ADD, body)


def put_tag(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    body = _body(args)
    body["metadata"] = metadata
    em.emit(ep.TAG_ADD, body)


def put_metric(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    body = _body(args)
    if body["artifact_path"]:
        body["artifact_path"] = os.path.abspath(body["artifact_path"])
    # Ocarina sends the -m/--metadata triples as the metrics (namespace, name, value).
    body["metrics"] = metadata
    del body["metadata"]
    em.emit(ep.METRIC_ADD, body)


def put_qc(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    body = _body(args)
    del body["metadata"]
    em.emit(ep.QC_ADD, body)


def put_publish(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    answer = em.emit(ep.ACCESSION_ADD, {
        "publish_group": args.publish_group, "contains": args.contains, "service": args.service,
        "accession": args.accession, "accession2": args.accession2, "accession3": args.accession3,
        "public": args.public, "public_date": args.public_date, "submitted": args.submitted})
    if answer.get("errors") == 0:
        print(0, args.publish_group, answer["updated"][0][2])
    else:
        print(1, args.publish_group, "-")


def info(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    answer = em.emit(ep.ARTIFACT_INFO, {"params": {"q": args.query}})
    if answer.get("errors") == 0:
        if args.raw:
            print(answer["info"])
        else:
            tables.info_text(answer["info"], sys.stdout)


def list_mag(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    answer = em.emit(ep.MAG_GET, _body(args), quiet=True)
    code = answer.get("error_code") or ""
    if code.startswith("BIGMAG"):
        print(f"MAG contains {code.split(':')[1]} groups or artifacts, if you are sure you want to list it "
              "use --force.")
        return
    if answer.get("mag"):
        tables.mag_table(answer["mag"], sys.stdout)


def get_biosample(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    em.emit(ep.BIOSAMPLE_GET, _body(args))


def get_biosample_validity(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    answer = em.emit(ep.VALIDITY_GET, _body(args))
    if args.tsv:
        tables.validity_tsv(answer["result"], sys.stdout)


def _task_answer(em: Emitter, args: argparse.Namespace, endpoint: ep.Endpoint,
                 body: dict[str, Any]) -> dict[str, Any]:
    return em.wait_for_task(args, endpoint, body)


def get_sequencing(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    endpoint = ep.SEQUENCING_GET2 if args.faster else ep.SEQUENCING_GET
    answer = _task_answer(em, args, endpoint, _body(args))
    get = answer.get("get")
    if not isinstance(get, dict) or "count" not in get:
        stop(69)
    if get["count"] == 0:
        stop(66)
    if get["count"] >= 1 and args.tsv and len(get["result"]) >= 1:
        tables.sequencing_tsv(get["result"], faster=args.faster, show_dummy=args.tsv_show_dummy,
                              out=sys.stdout)


def get_pag(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    body = _body(args)
    answer = _task_answer(em, args, ep.PAG_QC_GET, body)
    get = answer.get("get")
    if args.mode.lower() == "pagfiles":
        if not isinstance(get, dict) or "count" not in get:
            stop(69)
        if get["count"] >= 1:
            tables.pagfiles(get["result"], header=args.output_header, out=sys.stdout)
    elif args.ofield:
        skipped = tables.ofield_table(get, args.ofield, args.ffield_true, args.odelimiter, sys.stdout)
        if skipped is None:
            sys.stdout.flush()
            stop(69)
        sys.stderr.write(f"Skipped {skipped}\n")
    if args.task_del and (answer.get("task") or {}).get("state", "") == "SUCCESS":
        em.emit(ep.TASK_DELETE, body)


def get_summary(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    answer = em.emit(ep.SUMMARY_GET, _body(args))
    if args.md:
        tables.summary_md(answer["get"], sys.stdout)


def get_outbound_summary(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    answer = em.emit(ep.OUTBOUND_SUMMARY_GET, _body(args))
    if args.md:
        tables.outbound_md(answer["get"], from_wave=args.md_from_wave, skip_zero=args.md_skip_zero,
                           out=sys.stdout)


def get_dataview(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    answer = em.wait_for_task(args, ep.MDV_GET, {"params": {"mdv": args.mdv}})
    rows = answer.get("data")
    if not rows:
        stop(66, "No data returned.")
    out = sys.stdout if args.output == "-" else open(args.output, "w", newline="")
    try:
        if args.output_table:
            flat_rows = []
            for row in rows:
                flat: dict[str, Any] = {}
                for key, value in row.items():
                    if isinstance(value, dict):
                        flat.update({f"{key}.{sub}": v for sub, v in value.items()})
                    else:
                        flat[key] = value
                flat_rows.append(flat)
            # Sorted columns: Ocarina's order changes from run to run (a set).
            names = sorted({k for r in flat_rows for k in r})
            writer = csv.DictWriter(out, fieldnames=names, delimiter=args.output_table_delimiter)
            writer.writeheader()
            writer.writerows(flat_rows)
        else:
            json.dump(rows, out)
    finally:
        if out is not sys.stdout:
            out.close()


def del_task(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    em.emit(ep.TASK_DELETE, _body(args))


def oauth_refresh(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    """Refresh the shared credential now (under the lock; every process sees the new token)."""
    mgr = em.client.credentials
    if not em.client.settings.oauth:
        stop(78, "snakemake-majora ocarina: error: oauth refresh needs OAuth (client_id/client_secret); API "
                 "keys are renewed in Majora's web interface")
    mgr.force_refresh()
    scopes = " ".join(args.scopes or em.client.settings.scopes)
    print(f"Token with scope '{scopes}' refreshed successfully")


def oauth_authorise(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    oauth_refresh(em, argparse.Namespace(scopes=None), metadata, metrics)


def pag_suppress(em: Emitter, args: argparse.Namespace, metadata: dict, metrics: dict) -> None:
    em.emit(ep.PAG_SUPPRESS, _body(args))


HANDLERS = {
    "empty_biosample": empty_biosample, "info": info, "put_biosample": put_biosample,
    "put_library": put_library, "put_sequencing": put_sequencing, "put_file": put_file, "put_tag": put_tag,
    "put_metric": put_metric, "put_qc": put_qc, "put_publish": put_publish, "list": list_mag,
    "get_biosample": get_biosample, "get_biosample_validity": get_biosample_validity,
    "get_sequencing": get_sequencing, "get_pag": get_pag, "get_summary": get_summary,
    "get_outbound_summary": get_outbound_summary, "get_dataview": get_dataview, "del_task": del_task,
    "oauth_refresh": oauth_refresh, "oauth_authorise": oauth_authorise, "pag_suppress": pag_suppress,
}
