# Config validation and the helpers the rules share.
import csv
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# Relative to this file, not to the main Snakefile: the workflow also runs as a module of another one.
SCHEMA = Path(workflow.source_path("../schemas/config.schema.yaml"))


def config_problem(cfg):
    """The first schema violation as one line naming the key, or None if the config is valid."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(SCHEMA.read_text())
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(cfg)
    )
    if error is None:
        return None
    path = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        key = ".".join(path + unknown[:1])
        return f"invalid config at '{key}': unknown key (allowed: {', '.join(error.schema['properties'])})"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return (
            f"invalid config at '{'.'.join(path + missing[:1])}': this key is required"
        )
    key = ".".join(path) or "(top level)"
    if error.validator == "pattern" and error.schema.get("description"):
        return f"invalid config at '{key}': {error.instance!r} is not valid ({error.schema['description']})"
    return f"invalid config at '{key}': {error.message}"


try:
    validate(config, str(SCHEMA))
except WorkflowError:
    raise WorkflowError(
        (config_problem(config) or "invalid config")
        + " (see config/README.md; fix the config file or --config)"
    ) from None

BATCH = config["batch"]
MODES = [m for m in ("run_name", "pag", "samples", "sample_sheet") if BATCH.get(m)]
if len(MODES) != 1:
    raise WorkflowError(
        "invalid config at 'batch': set exactly one of batch.run_name, batch.pag, batch.samples, "
        "batch.sample_sheet"
        + (f" (found {', '.join(MODES)})" if MODES else " (none is set)")
    )
MODE = MODES[0]
SHEET_SCHEMA = Path(workflow.source_path("../schemas/samples.schema.yaml"))


def sheet_samples(path):
    """Central sample IDs of a TSV sample sheet, in sheet order; one line naming the row if invalid."""
    import jsonschema
    import yaml

    where = f"invalid sample sheet {path}"
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
    except OSError as e:
        raise WorkflowError(
            f"{where}: {e.strerror} (set batch.sample_sheet to a TSV file, relative to the working "
            "directory)"
        ) from None
    validator = jsonschema.Draft202012Validator(
        yaml.safe_load(SHEET_SCHEMA.read_text())
    )
    seen = set()
    for n, row in enumerate(rows, start=2):  # line 1 is the header
        row = {k: v for k, v in row.items() if k is not None and v is not None}
        error = jsonschema.exceptions.best_match(validator.iter_errors(row))
        if error is not None:
            column = (
                ".".join(str(p) for p in error.absolute_path) or "central_sample_id"
            )
            raise WorkflowError(
                f"{where}, line {n}, column {column}: {error.message} "
                "(see workflow/schemas/samples.schema.yaml)"
            )
        if row["central_sample_id"] in seen:
            raise WorkflowError(
                f"{where}, line {n}: {row['central_sample_id']} is listed twice"
            )
        seen.add(row["central_sample_id"])
    if not rows:
        raise WorkflowError(
            f"{where}: no samples (a header line and one row per sample)"
        )
    return [row["central_sample_id"] for row in rows]


# The batch's explicit sample IDs (samples or sample_sheet mode); empty for runs and PAG queries.
BATCH_IDS = (
    sheet_samples(BATCH["sample_sheet"])
    if MODE == "sample_sheet"
    else list(BATCH.get("samples") or [])
)
RESULTS = config["results"].rstrip("/")
LAB_QC = config["lab_qc"]
PUBLISH = config["publish"]
MAJORA = config["majora"]
# The scopes the publish jobs use beyond snakemake-majora's default ones (file/add, meta/qc/add). The
# onstart preflight() checks that the stored grant has them, so a grant without them stops the run before
# any job (rather than in every publish job, after the resolve step).
PUBLISH_SCOPES = (
    [
        "majora2.add_digitalresourceartifact",
        "majora2.change_digitalresourceartifact",
        "majora2.add_pagqualityreport",
        "majora2.change_pagqualityreport",
    ]
    if PUBLISH["enabled"]
    else []
)
# A run batch publishes under its own run; otherwise the configured run of the lab's consensus files.
PUBLISH_RUN = BATCH.get("run_name") or PUBLISH.get("run_name")
if PUBLISH["enabled"] and "{run}" in PUBLISH["publish_group"] and not PUBLISH_RUN:
    raise WorkflowError(
        "invalid config at 'publish.run_name': the publish group "
        f"{PUBLISH['publish_group']!r} needs {{run}}: set publish.run_name (the sequencing run "
        "of the consensus files) or batch.run_name (see config/README.md)"
    )


def batch_query():
    """The majora:// query whose record lists the batch's samples (None for an explicit list)."""
    if MODE == "run_name":
        return f"majora://sequencing/{BATCH['run_name']}"
    if MODE == "pag":
        pag = dict(BATCH["pag"])
        test = pag.pop("test_name")
        filters = "&".join(
            f"{k}={str(v).lower() if isinstance(v, bool) else v}"
            for k, v in sorted(pag.items())
            if v is not None
        )
        return f"majora://pag/{test}" + (f"?{filters}" if filters else "")
    return None


def batch_input(wildcards):
    query = batch_query()
    if query:
        return {"record": storage.majora(query)}
    return {"sheet": BATCH["sample_sheet"]} if MODE == "sample_sheet" else {}


def lab_qc_file(sample):
    return Path(LAB_QC["dir"]) / f"{sample}.qc.csv"


def batch_rows():
    """Rows of the resolved batch (after the checkpoint): central_sample_id, in_majora, source."""
    with open(checkpoints.resolve_batch.get().output.samples, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def known_samples():
    return [r["central_sample_id"] for r in batch_rows() if r["in_majora"] == "yes"]


def verdict_files(wildcards):
    if PUBLISH["enabled"]:
        checkpoints.majora_qc.get()  # publish first: see majora_qc_table
    return expand(f"{RESULTS}/verdicts/{{sample}}.json", sample=known_samples())


def lab_qc_files(wildcards):
    """The lab QC files of the batch's samples that exist (absent ones show as "no QC file")."""
    ids = [r["central_sample_id"] for r in batch_rows()]
    return [str(lab_qc_file(s)) for s in ids if lab_qc_file(s).exists()]


def consensus_file(wildcards):
    """The consensus FASTA the sample's lab QC row names (``fasta``, relative to the QC file)."""
    qc = lab_qc_file(wildcards.sample)
    with open(qc, newline="") as fh:
        row = next(csv.DictReader(fh), None) or {}
    if not row.get("fasta"):
        raise WorkflowError(
            f"{qc}: no 'fasta' column naming the sample's consensus file"
        )
    path = Path(row["fasta"])
    return str(path if path.is_absolute() else qc.parent / path)


def published_files(wildcards):
    samples = [s for s in known_samples() if lab_qc_file(s).exists()]
    return expand(f"{RESULTS}/published/{{sample}}.json", sample=samples)


def majora_qc_table(wildcards):
    """Majora's QC outcomes of the published PAGs; the per-sample records are read after it, so they
    already show the PAGs this run made (a second run then finds nothing changed)."""
    if not PUBLISH["enabled"]:
        return []
    return checkpoints.majora_qc.get().output[0]
