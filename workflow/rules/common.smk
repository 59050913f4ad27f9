# Config validation and the helpers the rules share.
import csv
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"


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
MODES = [m for m in ("run_name", "pag", "samples") if BATCH.get(m)]
if len(MODES) != 1:
    raise WorkflowError(
        "invalid config at 'batch': set exactly one of batch.run_name, batch.pag, batch.samples"
        + (f" (found {', '.join(MODES)})" if MODES else " (none is set)")
    )
MODE = MODES[0]
RESULTS = config["results"].rstrip("/")
LAB_QC = config["lab_qc"]
PUSH = config["push_metrics"]
MAJORA = config["majora"]


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
    return {"record": storage.majora(query)} if query else {}


def lab_qc_file(sample):
    return Path(LAB_QC["dir"]) / f"{sample}.qc.csv"


def batch_rows():
    """Rows of the resolved batch (after the checkpoint): central_sample_id, in_majora, source."""
    with open(checkpoints.resolve_batch.get().output.samples, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def consensus_path(sample):
    """The sample's consensus file path from the batch's PAG record ("" when the batch has none)."""
    return next(
        (
            r.get("consensus_path") or ""
            for r in batch_rows()
            if r["central_sample_id"] == sample
        ),
        "",
    )


def known_samples():
    return [r["central_sample_id"] for r in batch_rows() if r["in_majora"] == "yes"]


def verdict_files(wildcards):
    return expand(f"{RESULTS}/verdicts/{{sample}}.json", sample=known_samples())


def lab_qc_files(wildcards):
    """The lab QC files of the batch's samples that exist (absent ones show as "no QC file")."""
    ids = [r["central_sample_id"] for r in batch_rows()]
    return [str(lab_qc_file(s)) for s in ids if lab_qc_file(s).exists()]


def pushed_files(wildcards):
    if not PUSH["enabled"]:
        return []
    samples = [s for s in known_samples() if lab_qc_file(s).exists()]
    return expand(f"{RESULTS}/pushed/{{sample}}.json", sample=samples)
