# Per-sample steps: publish the lab's consensus to Majora (file, metrics, QC), validate the Majora
# record.


rule validate:
    input:
        record=storage.majora("majora://biosample/{sample}"),
    output:
        f"{RESULTS}/verdicts/{{sample}}.json",
    log:
        f"{RESULTS}/logs/validate/{{sample}}.log",
    conda:
        "../envs/majora.yaml"
    script:
        "../scripts/validate.py"


rule publish:
    input:
        qc=lambda wc: lab_qc_file(wc.sample),
        fasta=consensus_file,
    output:
        f"{RESULTS}/published/{{sample}}.json",
    log:
        f"{RESULTS}/logs/publish/{{sample}}.log",
    conda:
        "../envs/majora.yaml"
    params:
        # A function: the template's {sample}, {org}, {run} are not this rule's wildcards.
        publish_group=lambda wc: PUBLISH["publish_group"],
        org=PUBLISH["org"],
        run=PUBLISH_RUN,
        node=PUBLISH["node"],
        pipeline=[PUBLISH["pipeline"][k] for k in ("hook", "kind", "name", "version")],
        platform=PUBLISH["platform"],
        reference_length=PUBLISH["reference_length"],
        read_length=PUBLISH["read_length"],
        covered_depth=PUBLISH["covered_depth"],
        qc_test=PUBLISH["qc_test"],
        qc_version=PUBLISH["qc_version"],
        profile=MAJORA["profile"],
    script:
        "../scripts/publish.py"


checkpoint majora_qc:
    input:
        published=published_files,
    output:
        f"{RESULTS}/published/majora_qc.tsv",
    log:
        f"{RESULTS}/logs/majora_qc.log",
    localrule: True
    conda:
        "../envs/majora.yaml"
    params:
        qc_test=PUBLISH["qc_test"],
        profile=MAJORA["profile"],
    script:
        "../scripts/majora_qc.py"


rule manifest:
    input:
        samples=f"{RESULTS}/batch/samples.tsv",
        verdicts=verdict_files,
        majora_qc=majora_qc_table,
        qc=lab_qc_files,
    output:
        f"{RESULTS}/manifest.tsv",
    log:
        f"{RESULTS}/logs/manifest.log",
    localrule: True
    conda:
        "../envs/majora.yaml"
    params:
        batch=BATCH["name"],
        min_coverage=LAB_QC["min_pct_covered_bases"],
        min_longest_run=LAB_QC["min_longest_no_N_run"],
    script:
        "../scripts/manifest.py"
